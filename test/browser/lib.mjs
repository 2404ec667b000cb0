// lib.mjs - shared pieces of crosstalk's browser tests: Debian's chromium
// driven by playwright-core, the demo stand-in apps, the stack's env file,
// and the "N passed, N failed" bookkeeping every test ends with.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const here = path.dirname(fileURLToPath(import.meta.url));
export const SRC = process.env.CT_SRC || path.resolve(here, '../..');
export const BIN = process.env.CT_BIN || path.join(SRC, 'build');
export const SHOTS = process.env.CT_SHOTS || path.join(BIN, 'browser-shots');
const PY = '/usr/bin/python3';

export function readEnv(state) {
	const env = {};
	for (const line of fs.readFileSync(path.join(state, 'env'), 'utf8').split('\n')) {
		const i = line.indexOf('=');
		if (i > 0)
			env[line.slice(0, i).trim()] = line.slice(i + 1).trim();
	}
	return env;
}

export class Checks {
	constructor(name) {
		this.name = name;
		this.passed = 0;
		this.failed = 0;
	}
	ok(cond, what, detail = '') {
		if (cond)
			this.passed++;
		else {
			this.failed++;
			console.log(`FAIL: ${what} ${detail}`);
		}
		return !!cond;
	}
	eq(got, want, what) {
		const g = JSON.stringify(got), w = JSON.stringify(want);
		return this.ok(g === w, what, `got ${g.slice(0, 400)} want ${w.slice(0, 400)}`);
	}
	done() {
		console.log(`${this.passed} passed, ${this.failed} failed`);
		if (this.passed === 0 && this.failed === 0)
			console.log('no checks ran');
		return this.failed || !this.passed ? 1 : 0;
	}
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// poll fn() until it returns a truthy value or ms pass; returns the value
export async function until(fn, ms = 10000, step = 100) {
	const end = Date.now() + ms;
	let v;
	for (let i = 0; i < 100000 && Date.now() < end; i++) {
		try {
			v = await fn();
		} catch (e) {
			v = undefined;
		}
		if (v)
			return v;
		await sleep(step);
	}
	return v;
}

// a port free on 127.0.0.1, picked as scripts/stack.sh picks its own
// (scripts/free-port.py): below the kernel's ephemeral range, so that no
// outgoing connection of a test running beside this one takes it before
// the demo app binds it
export async function freePort() {
	return parseInt(execFileSync(PY, [path.join(SRC, 'scripts/free-port.py'), '0', '0'],
		{ encoding: 'utf8' }), 10);
}

const children = [];
export function cleanup() {
	for (const c of children.splice(0)) {
		if (c.exitCode === null && c.signalCode === null) {
			try {
				c.kill('SIGTERM');
			} catch (e) { /* gone */ }
		}
	}
}
process.on('exit', cleanup);

// start one demo app (demo/app.py) on port; resolves when it answers
export async function startApp(envFile, port, args, logDir) {
	const log = fs.openSync(path.join(logDir, `demo-${port}.log`), 'a');
	const c = spawn(PY, [path.join(SRC, 'demo/app.py'), '--env', envFile, '--port', String(port), ...args],
		{ stdio: ['ignore', log, log], env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
	children.push(c);
	const up = await until(async () => {
		const r = await fetch(`http://127.0.0.1:${port}/health`);
		return r.ok;
	}, 10000, 100);
	if (!up)
		throw new Error(`demo app on ${port} did not start (see ${logDir}/demo-${port}.log)`);
	return c;
}

export async function launch() {
	// launch() gives every run a fresh, throwaway profile directory
	return chromium.launch({
		executablePath: '/usr/bin/chromium',
		headless: true,
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
			'--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic'],
		timeout: 30000,
	});
}

// the HTTP API, as the app servers use it
export async function api(env, method, p, { key, session, body, timeoutMs } = {}) {
	const h = { Authorization: `Bearer ${key || env.APP1_KEY}`, 'Content-Type': 'application/json' };
	if (session)
		h['X-Crosstalk-Session'] = session;
	const r = await fetch(`${env.CROSSTALK_HTTP}/${p}`, {
		method, headers: h, body: method === 'GET' ? undefined : JSON.stringify(body || {}),
		signal: timeoutMs ? AbortSignal.timeout(timeoutMs) : undefined,
	});
	let json = null;
	try {
		json = await r.json();
	} catch (e) { /* not JSON */ }
	return { status: r.status, json };
}

// A private stack for a test that breaks things or wants a clean slate:
// scripts/stack.sh up with app origins on free ports; stopped (stack.sh
// down) and removed when the process exits.
export async function ownStack(prefix) {
	const state = mkTmp(prefix);
	const p1 = await freePort(), p2 = await freePort();
	const o1 = `http://127.0.0.1:${p1}`, o2 = `http://127.0.0.1:${p2}`;
	const stack = path.join(SRC, 'scripts/stack.sh');
	process.on('exit', () => {
		try {
			execFileSync(stack, ['down', state, BIN], { stdio: 'ignore' });
		} catch (e) { /* best effort */ }
		fs.rmSync(state, { recursive: true, force: true });
	});
	execFileSync(stack, ['up', state, BIN], {
		stdio: ['ignore', 'ignore', 'inherit'],
		env: { ...process.env, APP1_ORIGIN: o1, APP2_ORIGIN: o2, CT_FIXED_PORTS: '0',
			CT_PG_PORT: '', CT_HTTP_PORT: '', CT_WS_PORT: '' },
	});
	return { state, env: readEnv(state), o1, o2, p1, p2 };
}

// Origins for this test's demo apps: free ports, added to app1's and app2's
// registered origins, and crosstalk-wsd told to re-read them (SIGHUP). So a
// test never needs the stack's default 8081/8082 (a running `make demo`, or
// another build's suite, may hold them).
export async function testOrigins(env, state) {
	const p1 = await freePort(), p2 = await freePort();
	const o1 = `http://127.0.0.1:${p1}`, o2 = `http://127.0.0.1:${p2}`;
	psql(env, `UPDATE crosstalk.apps SET origins = array_append(origins, '${o1}') WHERE id = 'app1';
		UPDATE crosstalk.apps SET origins = array_append(origins, '${o2}') WHERE id = 'app2';`);
	const line = fs.readFileSync(path.join(state, 'pids'), 'utf8').split('\n').find((l) => l.startsWith('wsd '));
	if (line)
		process.kill(parseInt(line.split(' ')[1], 10), 'SIGHUP');
	const ok = await until(async () => {
		const r = await fetch(`${env.CROSSTALK_WSD}/widget/config`);
		const j = await r.json();
		return j.origins.includes(o1) && j.origins.includes(o2);
	}, 10000, 100);
	if (!ok)
		throw new Error('crosstalk-wsd did not pick up the test origins');
	return { o1, o2, p1, p2 };
}

// the newest PostgreSQL's own psql (as test/lib/ct.py picks it): /usr/bin/psql
// is Debian's pg_wrapper, a Perl script slower to start than the query
const PSQL = (() => {
	const base = '/usr/lib/postgresql';
	const dirs = (fs.existsSync(base) ? fs.readdirSync(base) : [])
		.filter((v) => fs.existsSync(path.join(base, v, 'bin', 'psql')))
		.sort((a, b) => parseFloat(a) - parseFloat(b));
	return dirs.length ? path.join(base, dirs[dirs.length - 1], 'bin', 'psql') : 'psql';
})();

export function psql(env, sql) {
	return execFileSync(PSQL, ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', env.PGHOST, '-p', env.PGPORT,
		'-U', env.PGUSER, '-d', env.PGDATABASE], { input: sql, encoding: 'utf8' });
}

export async function newChannel(env, prefix = 'bt', title = '') {
	const name = `${prefix}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
	title = title || `Test ${name}`;
	const r = await api(env, 'POST', 'channels/create', { body: { name, title } });
	if (r.status !== 200 && r.status !== 201) {
		// fall back to crosstalkctl with the owner's config
		execFileSync(path.join(env.CROSSTALK_BIN, 'ctl/crosstalkctl'),
			['--config', env.CROSSTALK_CONFIG, 'channel', 'add', name, '--title', title]);
	}
	return name;
}

export async function session(env, app, user, name) {
	const key = app === 'app2' ? env.APP2_KEY : env.APP1_KEY;
	const r = await api(env, 'POST', 'sessions', { key, body: { user_id: user, display_name: name, ttl: 3600 } });
	if (!r.json || !r.json.session)
		throw new Error(`sessions: ${r.status} ${JSON.stringify(r.json)}`);
	return r.json.session;
}

export async function ticket(env, app, ref) {
	const key = app === 'app2' ? env.APP2_KEY : env.APP1_KEY;
	const r = await api(env, 'POST', 'tickets', { key, session: ref });
	if (!r.json || !r.json.ticket)
		throw new Error(`tickets: ${r.status} ${JSON.stringify(r.json)}`);
	return r.json.ticket;
}

// a browser context logged into a demo app as user
export async function loginContext(browser, appUrl, user, name, viewport = { width: 900, height: 760 }) {
	const ctx = await browser.newContext({ viewport });
	const r = await ctx.request.post(`${appUrl}/login`, {
		form: { user_id: user, display_name: name }, maxRedirects: 0,
	});
	if (r.status() !== 303)
		throw new Error(`login at ${appUrl}: ${r.status()} ${await r.text()}`);
	return ctx;
}

// collect what a page prints, to show when a test fails
export function watchPage(page, label, sink) {
	page.on('console', (m) => sink.push(`[${label} console.${m.type()}] ${m.text()}`));
	page.on('pageerror', (e) => sink.push(`[${label} pageerror] ${e.message}`));
	page.on('dialog', (d) => {
		sink.push(`[${label} dialog] ${d.message()}`);
		d.dismiss().catch(() => {});
	});
}

// This test's two demo apps (app1 and app2 on origins of its own): { o1, o2 }
export async function startTwoApps(env, state) {
	const { o1, o2, p1, p2 } = await testOrigins(env, state);
	await startApp(path.join(state, 'env'), p1, ['--app', 'app1'], state);
	await startApp(path.join(state, 'env'), p2, ['--app', 'app2'], state);
	return { o1, o2 };
}

// Alice logged in to app1 and Carol to app2, a page each, their console
// and errors in logs: { ca, cb, pa, pb }
export async function aliceAndCarol(browser, o1, o2, logs) {
	const ca = await loginContext(browser, o1, 'alice', 'Alice Adams');
	const cb = await loginContext(browser, o2, 'carol', 'Carol Chen');
	const pa = await ca.newPage();
	const pb = await cb.newPage();
	watchPage(pa, 'app1', logs);
	watchPage(pb, 'app2', logs);
	return { ca, cb, pa, pb };
}

// the widget inside a page that embedded it
export function widget(page) {
	return page.frames().find((f) => f.url().includes('/widget'));
}

export async function widgetState(page) {
	const f = widget(page);
	if (!f)
		return null;
	return f.evaluate(() => document.getElementById('ct-app').getAttribute('data-state'));
}

export async function messageTexts(frame) {
	return frame.evaluate(() => Array.from(document.querySelectorAll('#ct-messages .ct-msg:not(.ct-pending) .ct-text'))
		.map((e) => e.textContent));
}

export async function sendInWidget(frame, text) {
	await frame.fill('#ct-input', text);
	await frame.press('#ct-input', 'Enter');
}

// --- stopping and starting a daemon of a private stack ----------------------

export function daemonPid(state, name) {
	const line = fs.readFileSync(path.join(state, 'pids'), 'utf8').split('\n')
		.find((l) => l.startsWith(`${name} `));
	return line ? parseInt(line.split(' ')[1], 10) : 0;
}

export function alive(pid) {
	try {
		process.kill(pid, 0);
		return true;
	} catch (e) {
		return false;
	}
}

// stop a daemon of stack.sh ("wsd", "fcgi"); returns what startDaemon needs
export async function stopDaemon(state, name) {
	const pid = daemonPid(state, name);
	if (!pid)
		throw new Error(`no ${name} in ${state}/pids`);
	const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((x) => x);
	process.kill(pid, 'SIGTERM');
	await until(() => !alive(pid), 10000, 50);
	if (alive(pid))
		process.kill(pid, 'SIGKILL');
	return { name, pid, argv };
}

// start it again exactly as stack.sh did (same argv, same log), recording
// the new pid where stack.sh down will find it
export function startDaemon(state, stopped) {
	const log = fs.openSync(path.join(state, `${stopped.name}.log`), 'a');
	const c = spawn(stopped.argv[0], stopped.argv.slice(1), { stdio: ['ignore', log, log], detached: true });
	c.unref();
	const pids = fs.readFileSync(path.join(state, 'pids'), 'utf8')
		.replace(new RegExp(`^${stopped.name} ${stopped.pid}$`, 'm'), `${stopped.name} ${c.pid}`);
	fs.writeFileSync(path.join(state, 'pids'), pids);
	return c.pid;
}

// a server that accepts connections and never answers: a hub that hangs
export async function blackHole() {
	const socks = [];
	const srv = net.createServer((s) => {
		socks.push(s);
		s.on('error', () => {});
	});
	await new Promise((ok) => srv.listen(0, '127.0.0.1', ok));
	return {
		url: `http://127.0.0.1:${srv.address().port}`,
		close: () => {
			socks.forEach((s) => s.destroy());
			srv.close();
		},
	};
}

export function mkTmp(prefix) {
	return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

// run main() under a hard time limit; print the tally; exit non-zero on failure
export async function run(name, seconds, main) {
	const T = new Checks(name);
	const logs = [];
	const timer = setTimeout(() => {
		console.log(`FAIL: ${name} took longer than ${seconds} s`);
		console.log(logs.slice(-60).join('\n'));
		T.failed++;
		T.done();
		cleanup();
		process.exit(1);
	}, seconds * 1000);
	try {
		await main(T, logs);
	} catch (e) {
		T.ok(false, 'no exception', e && e.stack || String(e));
	}
	clearTimeout(timer);
	if (T.failed)
		console.log(logs.slice(-80).join('\n'));
	const rc = T.done();
	cleanup();
	process.exit(rc);
}
