// strings.mjs - web/strings.js is the one table of the widget's texts:
// every text widget.js passes to tr() and every data-t* text of
// widget.html is a key of it, each value keeps the key's {fields}, and no
// key is there that nothing uses. No stack, no browser.
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { run, SRC } from './lib.mjs';

await run('browser_strings', 30, async (T) => {
	const js = fs.readFileSync(path.join(SRC, 'web/widget.js'), 'utf8');
	const html = fs.readFileSync(path.join(SRC, 'web/widget.html'), 'utf8');
	const box = { window: {} };
	vm.runInNewContext(fs.readFileSync(path.join(SRC, 'web/strings.js'), 'utf8'), box);
	const table = box.window.crosstalkStrings;
	T.ok(table && typeof table === 'object', 'strings.js sets window.crosstalkStrings');
	const used = new Set();
	for (const m of js.matchAll(/tr\((?:[^'()]*\?\s*)?'((?:[^'\\]|\\.)*)'(?:\s*:\s*'((?:[^'\\]|\\.)*)')?/g)) {
		used.add(m[1]);
		if (m[2])
			used.add(m[2]);
	}
	for (const m of html.matchAll(/data-t(?:-placeholder|-label)?="([^"]+)"/g))
		used.add(m[1]);
	used.add(/var inputHint = '([^']+)'/.exec(js)[1]);
	T.ok(used.size > 60, `the widget's texts found (${used.size})`);
	const missing = [...used].filter((k) => !Object.prototype.hasOwnProperty.call(table, k));
	T.eq(JSON.stringify(missing), '[]', 'every text the widget shows is in the table');
	const unused = Object.keys(table).filter((k) => !used.has(k));
	T.eq(JSON.stringify(unused), '[]', 'nothing in the table that nothing shows');
	const fields = (s) => JSON.stringify((s.match(/\{\w+\}/g) || []).sort());
	const broken = Object.keys(table).filter((k) => fields(k) !== fields(String(table[k])));
	T.eq(JSON.stringify(broken), '[]', 'every value keeps its key\'s {fields}');
	const literal = [...js.matchAll(/(?:textContent|placeholder) = '([A-Z][^']*)'/g)].map((m) => m[1]);
	T.eq(JSON.stringify(literal), '[]', 'no text is written to the page but through tr()');
	T.ok(html.indexOf('<script src="/strings.js"></script>') < html.indexOf('<script src="/widget.js"></script>'),
		'widget.html loads the table before the widget');
});
