/* crosstalk.js - browser client for crosstalk-wsd (protocol crosstalk.v1).
 *
 * Three layers, no dependencies, no build step:
 *   crosstalk.Connection  the protocol: auth with a single-use ticket, subscribe
 *                         with resume (each channel remembers its last seq;
 *                         events are de-duplicated by seq), reconnect with
 *                         exponential backoff and jitter, publishes re-sent
 *                         with the same client_id until acknowledged.
 *   crosstalk.WebSocket   an object with the method names of ColdFusion's
 *                         <cfwebsocket> JavaScript object.
 *   the loader            reads <cfwebsocket>-style attributes from this
 *                         script element and creates window[name].
 * See docs/BROWSER.md.
 */
(function (global) {
	'use strict';

	var PROTOCOL = 'crosstalk.v1';
	var REQUEST_TIMEOUT_MS = 15000;
	var PING_MS = 25000;
	var JSON_ID = 'cfj-'; /* client_id prefix: the text is an object's JSON */
	var SILENT_MS = 65000;
	/* how long a wait for a ticket is part of (re)connecting before the
	 * state says "auth-required": a listening page answers in milliseconds,
	 * so a routine reconnect never shows "waiting for sign-in" */
	var AUTH_GRACE_MS = 1000;
	var FILES_PER_FRAME = 50; /* ids in one "files" request, the server's limit */

	function noop() {}

	function seqNum(s) {
		var n = typeof s === 'number' ? s : parseInt(s, 10);
		return isFinite(n) ? n : 0;
	}

	function randomId(prefix) {
		var a = new Uint8Array(12);
		(global.crypto || global.msCrypto).getRandomValues(a);
		var s = '';
		for (var i = 0; i < a.length; i++)
			s += (a[i] < 16 ? '0' : '') + a[i].toString(16);
		return (prefix || '') + s;
	}

	/* Compare by code point, the order of UTF-8 bytes that C and SQL
	 * (COLLATE "C") use. JavaScript's < compares UTF-16 units, which puts
	 * U+1F600 before U+FF21: the two ids of a DM would sort differently. */
	function codePointCompare(a, b) {
		var i = 0, j = 0;
		while (i < a.length && j < b.length) {
			var x = a.codePointAt(i), y = b.codePointAt(j);
			if (x !== y)
				return x < y ? -1 : 1;
			i += x > 0xffff ? 2 : 1;
			j += y > 0xffff ? 2 : 1;
		}
		return (i < a.length ? 1 : 0) - (j < b.length ? 1 : 0);
	}

	/* A user id: 1-128 characters, none of them ':' or a control
	 * character (the server's rule, docs/PROTOCOL.md). */
	function validUserId(id) {
		var n = Array.from(String(id)).length;
		return n >= 1 && n <= 128 && !/[\u0000-\u001f\u007f-\u009f:]/.test(id);
	}

	/* dm:<a>:<b> with the ids sorted by code point, as the protocol names
	 * direct channels */
	function dmChannel(a, b) {
		a = String(a);
		b = String(b);
		if (!validUserId(a) || !validUserId(b) || a === b)
			throw new Error('crosstalk: a direct channel needs two distinct valid user ids');
		return codePointCompare(a, b) < 0 ? 'dm:' + a + ':' + b : 'dm:' + b + ':' + a;
	}

	/* ws:// URL for an http(s):// origin or URL */
	function wsUrlFor(base) {
		var u = new URL('/ws', base);
		u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
		return u.href;
	}

	/* ---- Connection ------------------------------------------------- */

	/* opts:
	 *   url        WebSocket URL (ws://host:port/ws)
	 *   ticket     a first ticket (single use)
	 *   getTicket  function () -> Promise<string>: a fresh ticket for every
	 *              later connect. Without one, it emits 'auth-required' and
	 *              waits for setTicket(); a wait longer than a second shows
	 *              as state "auth-required".
	 *   backoffMs  first retry delay (default 500); maxBackoffMs (15000)
	 *   on         {event-type: handler} also settable with .on(type, fn)
	 * Emits: 'state' (state, detail), 'welcome' (user), 'event' (ev: message,
	 *   edited, deleted, each exactly once, in seq order per channel),
	 *   'subscribed' ({channel,last_seq}), 'frame' (every server object),
	 *   'error' (error object), 'auth-required' ().
	 * States: idle, connecting, open, reconnecting, auth-required, closed.
	 */
	function Connection(opts) {
		this.opts = opts || {};
		this.url = this.opts.url;
		this.state = 'idle';
		this.user = null;
		this.ws = null;
		this.ticket = this.opts.ticket || null;
		this.channels = {}; /* name -> {lastSeq, live, initialAfter, skipReplay} */
		this.pending = []; /* requests waiting for their answer */
		this.outbox = []; /* publishes not yet acknowledged, in order */
		this.handlers = {};
		this.attempt = 0;
		this.retryTimer = null;
		this.pingTimer = null;
		this.lastHeard = 0;
		this.refSeq = 0;
		this.authFailures = 0;
		this.wanted = false;
		this.ticketWait = null;
		this.authTimer = null; /* turns a lasting ticketWait into "auth-required" */
		this.uploadTargets = {}; /* channel -> {promise, goodUntil}: "upload" answers */
		this.fileCache = {}; /* attachment id -> {url, expires_at_ms, goodUntil, asking} */
		this.fileQueue = []; /* ids waiting to be asked for in one "files" frame */
		this.fileTimer = null;
		this.uploadProgress = undefined; /* false: the upload URL refused a CORS preflight */
		var on = this.opts.on || {};
		for (var k in on)
			if (Object.prototype.hasOwnProperty.call(on, k))
				this.on(k, on[k]);
	}

	Connection.prototype.on = function (type, fn) {
		(this.handlers[type] = this.handlers[type] || []).push(fn);
		return this;
	};

	Connection.prototype.emit = function (type) {
		var list = this.handlers[type];
		if (!list)
			return;
		var args = Array.prototype.slice.call(arguments, 1);
		for (var i = 0; i < list.length; i++) {
			try {
				list[i].apply(this, args);
			} catch (e) {
				if (global.console)
					console.error('crosstalk: handler for ' + type +
						      ' threw', e);
			}
		}
	};

	Connection.prototype.setState = function (s, detail) {
		if (this.state === s && !detail)
			return;
		this.state = s;
		this.emit('state', s, detail || {});
	};

	Connection.prototype.isOpen = function () {
		return this.state === 'open';
	};

	/* start (or resume) connecting; idempotent */
	Connection.prototype.open = function () {
		this.wanted = true;
		this.authFailures = 0;
		if (this.ws || this.retryTimer || this.ticketWait)
			return;
		this.connect();
	};

	/* hand over a ticket (e.g. from a crosstalk:auth message) */
	Connection.prototype.setTicket = function (t) {
		if (!t || typeof t !== 'string')
			return;
		this.ticket = t;
		if (this.ticketWait) {
			var w = this.ticketWait;
			this.stopTicketWait();
			w();
		} else if (this.wanted && !this.ws && !this.retryTimer) {
			this.connect();
		}
	};

	Connection.prototype.takeTicket = function (cb) {
		var self = this;
		if (this.ticket) {
			var t = this.ticket;
			this.ticket = null; /* single use */
			cb(t);
			return;
		}
		if (typeof this.opts.getTicket === 'function') {
			var p;
			try {
				p = Promise.resolve(this.opts.getTicket());
			} catch (e) {
				p = Promise.reject(e);
			}
			p.then(function (t) {
				if (!self.wanted)
					return;
				if (typeof t === 'string' && t)
					cb(t);
				else
					self.scheduleRetry({ reason: 'no ticket' });
			}, function (e) {
				if (self.wanted)
					self.scheduleRetry({ reason: 'ticket: ' + (e && e.message || e) });
			});
			return;
		}
		/* nobody can mint one here: ask whoever listens, then wait */
		this.ticketWait = function () {
			self.takeTicket(cb);
		};
		this.authTimer = setTimeout(function () {
			self.authTimer = null;
			if (self.ticketWait)
				self.setState('auth-required');
		}, AUTH_GRACE_MS);
		this.emit('auth-required');
	};

	Connection.prototype.stopTicketWait = function () {
		this.ticketWait = null;
		if (this.authTimer)
			clearTimeout(this.authTimer);
		this.authTimer = null;
	};

	Connection.prototype.connect = function () {
		var self = this;
		this.retryTimer = null;
		if (!this.wanted)
			return;
		this.setState(this.attempt ? 'reconnecting' : 'connecting',
			      { attempt: this.attempt });
		this.takeTicket(function (ticket) {
			if (!self.wanted || self.ws)
				return;
			self.dial(ticket);
		});
	};

	Connection.prototype.dial = function (ticket) {
		var self = this, ws;
		try {
			ws = new WebSocket(this.url, PROTOCOL);
		} catch (e) {
			this.emit('error', { code: 'bad_request', message: String(e) });
			this.scheduleRetry({ reason: String(e) });
			return;
		}
		this.ws = ws;
		var welcomed = false;
		ws.onopen = function () {
			if (self.ws !== ws)
				return;
			self.lastHeard = Date.now();
			ws.send(JSON.stringify({ type: 'auth', ticket: ticket }));
		};
		ws.onmessage = function (e) {
			if (self.ws !== ws || typeof e.data !== 'string')
				return;
			self.lastHeard = Date.now();
			var lines = e.data.split('\n');
			for (var i = 0; i < lines.length; i++) {
				if (!lines[i])
					continue;
				var obj;
				try {
					obj = JSON.parse(lines[i]);
				} catch (err) {
					continue;
				}
				if (!obj || typeof obj !== 'object')
					continue;
				if (obj.type === 'welcome') {
					welcomed = true;
					self.onWelcome(obj);
				} else {
					self.dispatch(obj);
				}
			}
		};
		ws.onclose = function (e) {
			self.lost(ws, { code: e.code, reason: e.reason, welcomed: welcomed });
		};
		ws.onerror = function () {
			/* onclose follows and decides */
		};
	};

	/* the socket is gone (closed, or silent too long): retry or give up */
	Connection.prototype.lost = function (ws, detail) {
		if (this.ws !== ws)
			return;
		this.ws = null;
		this.stopPing();
		this.failPending({ code: 'unavailable', message: 'connection closed' });
		this.emit('close', detail);
		if (!this.wanted) {
			this.setState('closed', detail);
			return;
		}
		if (detail.code === 4001) {
			/* ticket bad, expired or reused, or the login ended */
			this.authFailures++;
			if (this.authFailures > 3) {
				this.wanted = false;
				this.setState('closed', { code: 4001, reason: 'unauthorized' });
				this.emit('error', { code: 'unauthorized', message: 'login ended or ticket refused' });
				return;
			}
		}
		if (detail.code === 4003) {
			this.wanted = false;
			this.setState('closed', { code: 4003, reason: 'forbidden origin' });
			this.emit('error', { code: 'forbidden', message: 'this page\'s origin is not registered' });
			return;
		}
		this.scheduleRetry(detail);
	};

	Connection.prototype.scheduleRetry = function (detail) {
		var self = this;
		if (this.retryTimer || !this.wanted)
			return;
		var base = this.opts.backoffMs || 500, cap = this.opts.maxBackoffMs || 15000;
		var ceil = Math.min(cap, base * Math.pow(2, Math.min(this.attempt, 10)));
		/* "equal jitter": half fixed, half random, so a restart does not
		 * bring every browser back in the same millisecond */
		var delay = Math.round(ceil / 2 + Math.random() * ceil / 2);
		this.attempt++;
		detail = detail || {};
		detail.retryInMs = delay;
		detail.attempt = this.attempt;
		this.setState('reconnecting', detail);
		this.retryTimer = setTimeout(function () {
			self.connect();
		}, delay);
	};

	Connection.prototype.onWelcome = function (obj) {
		var was = this.user;
		if (!was || !obj.user || was.id !== obj.user.id || was.app !== obj.user.app) {
			/* tokens and links are one user's */
			this.uploadTargets = {};
			this.fileCache = {};
		}
		this.user = obj.user || null;
		this.node = obj.node;
		this.attempt = 0;
		this.authFailures = 0;
		this.setState('open', { user: this.user });
		this.emit('welcome', this.user, obj);
		/* resume every channel from the last seq it saw */
		for (var name in this.channels)
			if (Object.prototype.hasOwnProperty.call(this.channels, name))
				this.sendSubscribe(name).then(null, noop); /* errors: 'error' event */
		/* re-send what was never acknowledged; same client_id = same message */
		for (var i = 0; i < this.outbox.length; i++)
			this.sendRaw(this.outbox[i].frame);
		this.startPing();
	};

	Connection.prototype.startPing = function () {
		var self = this;
		this.stopPing();
		this.pingTimer = setInterval(function () {
			if (!self.ws)
				return;
			if (Date.now() - self.lastHeard > SILENT_MS) {
				/* half-open socket: drop it and resume elsewhere */
				var ws = self.ws;
				try {
					ws.close(4000, 'silent');
				} catch (e) { /* ignore */ }
				self.lost(ws, { code: 1006, reason: 'silent' });
				return;
			}
			self.sendRaw({ type: 'ping' });
		}, PING_MS);
	};

	Connection.prototype.stopPing = function () {
		if (this.pingTimer)
			clearInterval(this.pingTimer);
		this.pingTimer = null;
	};

	Connection.prototype.sendRaw = function (obj) {
		if (!this.ws || this.ws.readyState !== 1 || this.state !== 'open')
			return false;
		this.ws.send(JSON.stringify(obj));
		return true;
	};

	/* request(frame, match) -> Promise: resolves with the first server object
	 * for which match(obj) is true, rejects with an error echoing its ref */
	Connection.prototype.request = function (frame, match, opts) {
		var self = this;
		frame.ref = frame.ref || 'r' + (++this.refSeq);
		return new Promise(function (resolve, reject) {
			var entry = { ref: frame.ref, match: match, resolve: resolve, reject: reject };
			entry.timer = setTimeout(function () {
				self.dropPending(entry);
				reject({ code: 'timeout', message: 'no answer to ' + frame.type });
			}, (opts && opts.timeoutMs) || REQUEST_TIMEOUT_MS);
			self.pending.push(entry);
			if (!self.sendRaw(frame)) {
				self.dropPending(entry);
				reject({ code: 'unavailable', message: 'not connected' });
			}
		});
	};

	Connection.prototype.dropPending = function (entry) {
		var i = this.pending.indexOf(entry);
		if (i >= 0)
			this.pending.splice(i, 1);
		clearTimeout(entry.timer);
	};

	Connection.prototype.failPending = function (err) {
		var list = this.pending;
		this.pending = [];
		for (var i = 0; i < list.length; i++) {
			clearTimeout(list[i].timer);
			list[i].reject(err);
		}
	};

	Connection.prototype.dispatch = function (obj) {
		var i, p;
		this.emit('frame', obj);
		if (obj.type === 'error') {
			if (obj.ref) {
				for (i = 0; i < this.pending.length; i++) {
					if (this.pending[i].ref === obj.ref) {
						p = this.pending[i];
						this.dropPending(p);
						p.reject(obj);
						break;
					}
				}
				this.failOutbox(obj);
			}
			this.emit('error', obj);
			return;
		}
		if (STREAM[obj.type] === true) {
			this.onEvent(obj);
		} else if (obj.type === 'subscribed') {
			var ch = this.channels[obj.channel];
			if (ch) {
				ch.live = true;
				ch.skipReplay = false;
				if (seqNum(obj.last_seq) > ch.lastSeq)
					ch.lastSeq = seqNum(obj.last_seq);
			}
			this.emit('subscribed', obj);
		} else if (obj.type === 'unsubscribed' && obj.reason === 'removed') {
			/* removed from a private channel: never resubscribed */
			delete this.channels[obj.channel];
			this.emit('removed', obj);
		} else if (obj.type === 'ack' && obj.client_id) {
			this.ackOutbox(obj);
		}
		for (i = 0; i < this.pending.length; i++) {
			p = this.pending[i];
			var hit = false;
			try {
				hit = p.match(obj);
			} catch (e) { /* ignore */ }
			if (hit) {
				this.dropPending(p);
				p.resolve(obj);
				break;
			}
		}
		this.emit(obj.type, obj);
	};

	/* the types of stream events: stored, with a seq in their channel.
	 * 'channel': the channel itself changed ({changes: {title, archived,
	 * deleted}}); 'member': a private channel's members ({added} or
	 * {removed}, user ids) */
	var STREAM = { message: true, edited: true, deleted: true, channel: true, member: true,
		reaction: true };

	/* the one place stream events pass: each seq once, in order */
	Connection.prototype.onEvent = function (ev) {
		var ch = this.channels[ev.channel];
		if (!ch)
			return; /* unsubscribed meanwhile */
		var seq = seqNum(ev.seq);
		if (seq <= ch.lastSeq)
			return; /* already seen (resume overlap, duplicate) */
		ch.lastSeq = seq;
		if (ch.skipReplay)
			return; /* "live only" subscription: stored events are not news */
		this.emit('event', ev, { replay: !ch.live });
	};

	/* subscribe(channel, {after}) - after: a seq to resume from, or a
	 * negative number for "the last N" (first subscribe only), or "live"
	 * for only what is published from now on. */
	Connection.prototype.subscribe = function (channel, o) {
		o = o || {};
		var ch = this.channels[channel];
		if (!ch) {
			ch = this.channels[channel] = { lastSeq: 0, live: false, skipReplay: false };
			if (o.after === 'live') {
				ch.initialAfter = -1;
				ch.skipReplay = true;
			} else if (o.after !== undefined) {
				var a = seqNum(o.after);
				if (a >= 0)
					ch.lastSeq = a;
				else
					ch.initialAfter = a;
			}
		}
		return this.sendSubscribe(channel);
	};

	Connection.prototype.sendSubscribe = function (channel) {
		var ch = this.channels[channel];
		if (!ch)
			return Promise.reject({ code: 'bad_request', message: 'unknown channel' });
		ch.live = false;
		var after = ch.lastSeq > 0 || ch.initialAfter === undefined ? ch.lastSeq : ch.initialAfter;
		if (!this.isOpen())
			return Promise.resolve({ type: 'queued', channel: channel });
		var self = this;
		return this.request({ type: 'subscribe', channel: channel, after: String(after) },
				    function (o) {
					    return o.type === 'subscribed' && o.channel === channel;
				    }, { timeoutMs: 60000 }).catch(function (err) {
			if (err && err.code && err.code !== 'unavailable' && err.code !== 'timeout')
				delete self.channels[channel];
			throw err;
		});
	};

	Connection.prototype.unsubscribe = function (channel) {
		if (!this.channels[channel])
			return Promise.resolve({ type: 'unsubscribed', channel: channel });
		delete this.channels[channel];
		if (!this.isOpen())
			return Promise.resolve({ type: 'unsubscribed', channel: channel });
		return this.request({ type: 'unsubscribe', channel: channel }, function (o) {
			return o.type === 'unsubscribed' && o.channel === channel;
		});
	};

	Connection.prototype.subscriptions = function () {
		return Object.keys(this.channels);
	};

	/* publish(channel, text[, clientId]) -> Promise<ack>. Kept and re-sent
	 * across reconnects until acknowledged (the client_id makes that safe). */
	/* publish(channel, text, clientId, {replyTo, files}) -> Promise of the
	 * ack. files: attachment ids from upload() (up to 10; text may then be
	 * empty) */
	Connection.prototype.publish = function (channel, text, clientId, opts) {
		var self = this;
		var entry = {
			frame: { type: 'publish', channel: channel, text: String(text),
				 client_id: clientId || randomId('c-') }
		};
		if (opts && opts.replyTo)
			entry.frame.reply_to = String(opts.replyTo);
		if (opts && opts.files && opts.files.length)
			entry.frame.files = Array.prototype.map.call(opts.files, String);
		entry.frame.ref = 'p' + (++this.refSeq);
		return new Promise(function (resolve, reject) {
			entry.resolve = resolve;
			entry.reject = reject;
			self.outbox.push(entry);
			self.sendRaw(entry.frame);
		});
	};

	Connection.prototype.ackOutbox = function (ack) {
		for (var i = 0; i < this.outbox.length; i++) {
			if (this.outbox[i].frame.client_id === ack.client_id) {
				var e = this.outbox.splice(i, 1)[0];
				e.resolve(ack);
				return;
			}
		}
	};

	Connection.prototype.failOutbox = function (err) {
		for (var i = 0; i < this.outbox.length; i++) {
			if (this.outbox[i].frame.ref === err.ref) {
				var e = this.outbox.splice(i, 1)[0];
				e.reject(err);
				return;
			}
		}
	};

	/* ---- attachments --------------------------------------------------- */

	/* an Error with the server's code (too_large, unsupported_media_type,
	 * unauthorized ...), the HTTP status when there was one, and the
	 * server's message */
	function uploadError(code, message, status) {
		var e = new Error(message || code);
		e.code = code || 'error';
		if (status)
			e.status = status;
		return e;
	}

	/* how long before expires_at_ms a token or a link counts as spent: a
	 * minute, or a quarter of its life when that is shorter */
	function expiryMargin(expiresAtMs, gotAtMs) {
		return Math.min(60000, Math.max(0, (expiresAtMs - gotAtMs) / 4));
	}

	/* uploadTarget(channel) -> Promise of {url, token, max_size,
	 * expires_at_ms}: where this user uploads files for channel (the
	 * "upload" frame), kept per channel until shortly before it expires */
	Connection.prototype.uploadTarget = function (channel, opts) {
		var self = this, now = Date.now();
		var hit = this.uploadTargets[channel];
		if (hit && !(opts && opts.fresh) && now < hit.goodUntil)
			return hit.promise;
		var entry = {};
		entry.promise = this.ask({ type: 'upload', channel: channel }).then(function (r) {
			if (!r || !r.url || !r.token)
				throw uploadError('unavailable', 'no upload address in the answer');
			entry.goodUntil = (r.expires_at_ms || 0) - expiryMargin(r.expires_at_ms || 0, now);
			return r;
		}, function (err) {
			if (self.uploadTargets[channel] === entry)
				delete self.uploadTargets[channel];
			throw err instanceof Error ? err :
				uploadError(err && err.code, err && err.message);
		});
		entry.goodUntil = Infinity; /* while asking: share the answer */
		this.uploadTargets[channel] = entry;
		return entry.promise;
	};

	/* POST one file (multipart: token, then file) to url; resolves with
	 * the attachment. XMLHttpRequest for the upload progress; fetch where
	 * there is none. A progress listener makes the browser send a CORS
	 * preflight first: when that fails before a byte went out, the upload
	 * is made once more without one (no progress), and later ones skip it. */
	Connection.prototype.postFile = function (target, file, opts) {
		var self = this;
		var fd = new global.FormData();
		fd.append('token', target.token);
		if (opts.name)
			fd.append('file', file, opts.name);
		else
			fd.append('file', file);
		var answer = function (status, text) {
			var j = null;
			try {
				j = JSON.parse(text);
			} catch (e) { /* not JSON: a proxy's page */ }
			if (status >= 200 && status < 300 && j && j.attachment && j.attachment.id !== undefined)
				return j.attachment;
			var er = j && j.error || {};
			var code = er.code || (status === 413 ? 'too_large' : status === 415 ? 'unsupported_media_type' :
				status === 401 ? 'unauthorized' : status === 403 ? 'forbidden' :
				status === 429 ? 'rate_limited' : status >= 500 ? 'unavailable' : 'error');
			throw uploadError(code, er.message || 'upload answered ' + status, status);
		};
		if (typeof global.XMLHttpRequest !== 'function') {
			return global.fetch(target.url, { method: 'POST', body: fd, credentials: 'omit',
				signal: opts.signal }).then(function (r) {
				return r.text().then(function (t) {
					return answer(r.status, t);
				});
			}, function (e) {
				throw e && e.name === 'AbortError' ? uploadError('aborted', 'upload cancelled') :
					uploadError('network', 'the upload did not reach the server');
			});
		}
		var progress = typeof opts.onProgress === 'function' && this.uploadProgress !== false;
		return new Promise(function (resolve, reject) {
			var xhr = new global.XMLHttpRequest(), sent = 0, done = false;
			var finish = function (fn, v) {
				if (done)
					return;
				done = true;
				if (opts.signal)
					opts.signal.removeEventListener('abort', onAbort);
				fn(v);
			};
			var onAbort = function () {
				xhr.abort();
				finish(reject, uploadError('aborted', 'upload cancelled'));
			};
			xhr.open('POST', target.url);
			xhr.withCredentials = false;
			if (progress) {
				xhr.upload.addEventListener('progress', function (e) {
					sent = e.loaded;
					try {
						opts.onProgress({ loaded: e.loaded, total: e.lengthComputable ? e.total : file.size });
					} catch (err) { /* the page's problem */ }
				});
			}
			xhr.onload = function () {
				try {
					finish(resolve, answer(xhr.status, xhr.responseText));
				} catch (e) {
					finish(reject, e);
				}
			};
			xhr.onerror = xhr.ontimeout = function () {
				if (done)
					return;
				if (progress && sent === 0 && self.uploadProgress !== true) {
					/* the preflight may be what failed: once more without
					 * (uploads started beside this one come here too) */
					self.uploadProgress = false;
					done = true;
					if (opts.signal)
						opts.signal.removeEventListener('abort', onAbort);
					self.postFile(target, file, opts).then(resolve, function (e) {
						if (e && e.code === 'network')
							self.uploadProgress = undefined; /* not the preflight, then */
						reject(e);
					});
					return;
				}
				finish(reject, uploadError('network', 'the upload did not reach the server'));
			};
			if (opts.signal) {
				if (opts.signal.aborted) {
					finish(reject, uploadError('aborted', 'upload cancelled'));
					return;
				}
				opts.signal.addEventListener('abort', onAbort);
			}
			xhr.send(fd);
		}).then(function (a) {
			if (progress && self.uploadProgress === undefined)
				self.uploadProgress = true;
			return a;
		});
	};

	/* upload(channel, file, {onProgress, signal, name}) -> Promise of the
	 * attachment {id, name, type, size, channel}; its id goes into
	 * publish(..., {files: [id]}). file: a File or Blob; onProgress({loaded,
	 * total}) while it goes out; signal: an AbortSignal that cancels it.
	 * Rejects with an Error whose code is the server's (too_large: over
	 * max_size, checked here before sending; unsupported_media_type: a type
	 * the server does not take, found from the bytes; unauthorized
	 * ...), or network / aborted. */
	Connection.prototype.upload = function (channel, file, opts) {
		var self = this;
		opts = opts || {};
		if (!file || typeof file.size !== 'number')
			return Promise.reject(uploadError('bad_request', 'upload needs a File or Blob'));
		var attempt = function (fresh) {
			return self.uploadTarget(channel, { fresh: fresh }).then(function (target) {
				if (target.max_size && file.size > target.max_size) {
					var big = uploadError('too_large', 'the file is larger than ' +
							      target.max_size + ' bytes', 413);
					big.maxSize = target.max_size;
					throw big;
				}
				if (opts.onProgress) {
					try {
						opts.onProgress({ loaded: 0, total: file.size });
					} catch (e) { /* the page's problem */ }
				}
				return self.postFile(target, file, opts);
			});
		};
		return attempt(false).catch(function (err) {
			/* a token that ran out meanwhile: a fresh one, once */
			if (err && (err.code === 'unauthorized' || err.status === 401)) {
				delete self.uploadTargets[channel];
				return attempt(true);
			}
			throw err;
		});
	};

	/* fileUrls(ids[, {fresh}]) -> Promise of {id: {url, expires_at_ms}}:
	 * signed links for attachments ("files" frames of at most 50 ids,
	 * asked together with the other calls of the same moment), kept per id
	 * until shortly before they expire. Ids this user may not read are
	 * left out of the answer. fresh: ask again even when a link is kept
	 * (an image that failed to load). */
	Connection.prototype.fileUrls = function (ids, opts) {
		var self = this, now = Date.now(), fresh = !!(opts && opts.fresh);
		var out = {}, waits = [];
		(ids || []).forEach(function (id) {
			id = String(id);
			var c = self.fileCache[id];
			if (c && c.url && !fresh && now < c.goodUntil) {
				out[id] = { url: c.url, expires_at_ms: c.expires_at_ms };
				return;
			}
			/* join a question already asked, unless this one wants a
			 * fresh link and that one went out before */
			if (!c || !c.asking || fresh && !c.asking.fresh && !c.asking.queued) {
				c = self.fileCache[id] = c || {};
				c.asking = self.queueFileUrl(id, fresh);
			}
			waits.push(c.asking.promise.then(function (u) {
				if (u)
					out[id] = u;
			}));
		});
		return Promise.all(waits).then(function () {
			return out;
		});
	};

	Connection.prototype.queueFileUrl = function (id, fresh) {
		var self = this, ask = { queued: true, fresh: fresh };
		ask.promise = new Promise(function (resolve, reject) {
			ask.resolve = resolve;
			ask.reject = reject;
		});
		this.fileQueue.push({ id: id, ask: ask });
		if (!this.fileTimer)
			this.fileTimer = setTimeout(function () {
				self.fileTimer = null;
				self.flushFileUrls();
			}, 0);
		return ask;
	};

	Connection.prototype.flushFileUrls = function () {
		var self = this, queue = this.fileQueue;
		this.fileQueue = [];
		for (var i = 0; i < queue.length; i += FILES_PER_FRAME)
			(function (batch) {
				batch.forEach(function (q) {
					q.ask.queued = false;
				});
				var asked = Date.now();
				self.ask({ type: 'files', ids: batch.map(function (q) { return q.id; }) }).then(function (r) {
					var urls = r && r.urls || {};
					batch.forEach(function (q) {
						var c = self.fileCache[q.id], u = urls[q.id];
						if (c && c.asking === q.ask) {
							delete c.asking;
							if (u && u.url) {
								c.url = u.url;
								c.expires_at_ms = u.expires_at_ms;
								c.goodUntil = (u.expires_at_ms || 0) -
									expiryMargin(u.expires_at_ms || 0, asked);
							} else {
								delete self.fileCache[q.id];
							}
						}
						q.ask.resolve(u && u.url ? { url: u.url, expires_at_ms: u.expires_at_ms } : null);
					});
				}, function (err) {
					batch.forEach(function (q) {
						var c = self.fileCache[q.id];
						if (c && c.asking === q.ask) {
							delete c.asking;
							if (!c.url)
								delete self.fileCache[q.id];
						}
						q.ask.reject(err);
					});
				});
			})(queue.slice(i, i + FILES_PER_FRAME));
	};

	Connection.prototype.edit = function (id, text) {
		id = String(id);
		return this.request({ type: 'edit', id: id, text: String(text) }, function (o) {
			return o.type === 'ack' && String(o.id) === id && !o.client_id;
		});
	};

	Connection.prototype.remove = function (id) {
		id = String(id);
		return this.request({ type: 'delete', id: id }, function (o) {
			return o.type === 'ack' && String(o.id) === id && !o.client_id;
		});
	};

	Connection.prototype.history = function (channel, before, limit) {
		return this.request({ type: 'history', channel: channel, before: String(before),
				      limit: limit || 50 }, function (o) {
			return o.type === 'history' && o.channel === channel;
		});
	};

	Connection.prototype.presence = function (channel) {
		return this.request({ type: 'presence', channel: channel }, function (o) {
			return o.type === 'presence' && o.channel === channel;
		});
	};

	/* search(q, {channel, cursor, limit}) -> Promise of {results, next}:
	 * full-text search over the channels this user may read */
	Connection.prototype.search = function (q, opts) {
		opts = opts || {};
		var ref = 'r' + (++this.refSeq);
		var frame = { type: 'search', q: String(q), limit: opts.limit || 20, ref: ref };
		if (opts.channel)
			frame.channel = opts.channel;
		if (opts.cursor)
			frame.cursor = opts.cursor;
		return this.request(frame, function (o) {
			return o.type === 'search' && o.ref === ref;
		});
	};

	/* users(q, {cursor, limit}) -> Promise of {users, next}: the
	 * directory, online or not, by a prefix of a name or an id */
	Connection.prototype.users = function (q, opts) {
		opts = opts || {};
		var ref = 'r' + (++this.refSeq);
		var frame = { type: 'users', q: String(q || ''), limit: opts.limit || 20, ref: ref };
		if (opts.cursor)
			frame.cursor = opts.cursor;
		return this.request(frame, function (o) {
			return o.type === 'users' && o.ref === ref;
		});
	};

	/* react / unreact(id, emoji) -> Promise of {changed, event} */
	Connection.prototype.react = function (id, emoji) {
		return this.ask({ type: 'react', id: String(id), emoji: String(emoji) });
	};
	Connection.prototype.unreact = function (id, emoji) {
		return this.ask({ type: 'unreact', id: String(id), emoji: String(emoji) });
	};

	/* a request answered by a frame of the same type and ref */
	Connection.prototype.ask = function (frame) {
		var ref = frame.ref = 'r' + (++this.refSeq);
		return this.request(frame, function (o) {
			return o.type !== 'error' && o.ref === ref;
		});
	};

	/* group(users, {title}) -> Promise of {channel: {name, title, owner}}:
	 * a private channel of this user and 2-49 others (user ids) */
	Connection.prototype.group = function (users, opts) {
		var frame = { type: 'group', users: users };
		if (opts && opts.title)
			frame.title = String(opts.title);
		return this.ask(frame);
	};

	/* members(channel) -> Promise of {channel, members: [{id, role, name, app}]} */
	Connection.prototype.members = function (channel) {
		return this.ask({ type: 'members', channel: channel });
	};

	/* addMembers / removeMembers(channel, users) -> Promise of
	 * {channel, changed, event}: as an owner (anyone may remove themselves) */
	Connection.prototype.addMembers = function (channel, users) {
		return this.ask({ type: 'add_members', channel: channel, users: users });
	};
	Connection.prototype.removeMembers = function (channel, users) {
		return this.ask({ type: 'remove_members', channel: channel, users: users });
	};

	Connection.prototype.listChannels = function () {
		return this.request({ type: 'channels' }, function (o) {
			return o.type === 'channels';
		});
	};

	Connection.prototype.typing = function (channel) {
		return this.sendRaw({ type: 'typing', channel: channel });
	};

	Connection.prototype.read = function (channel, seq) {
		return this.sendRaw({ type: 'read', channel: channel, seq: String(seq) });
	};

	Connection.prototype.close = function () {
		this.wanted = false;
		this.stopTicketWait();
		if (this.retryTimer)
			clearTimeout(this.retryTimer);
		this.retryTimer = null;
		this.stopPing();
		var ws = this.ws;
		this.ws = null;
		this.failPending({ code: 'unavailable', message: 'connection closed' });
		if (ws) {
			try {
				ws.close(1000, 'bye');
			} catch (e) { /* ignore */ }
		}
		this.attempt = 0;
		this.setState('closed', { code: 1000 });
	};

	/* ---- the <cfwebsocket> object ----------------------------------- */

	/* What ColdFusion's <cfwebsocket> JavaScript object does, on crosstalk:
	 * the same methods, and the answers where ColdFusion puts them (every
	 * response, and an error when the page has no onError, goes to
	 * onMessage as {type:"response", reqType, code, msg}; code 0 is success,
	 * -1 an error). Methods also return Promises for new code, but a page
	 * written for callbacks may ignore them: none of them ever ends as an
	 * unhandled rejection.
	 *
	 * Sub-channels: a subscriber of "stocks" also receives what is published
	 * to "stocks.nasdaq" (and "stocks.nasdaq.aapl"), as in ColdFusion. Each
	 * sub-channel is a channel of its own in crosstalk - stored, with its own
	 * gapless seqs, resumed from its own last seq after a reconnect - and
	 * this object subscribes to the ones the user may read (found with the
	 * channel list when subscribing and at every reconnect) on the parent's
	 * behalf, delivering them with their own channelname. See docs/MIGRATING.md.
	 *
	 * Direct messages are opt-in (directMessages: true): a page written for
	 * <cfwebsocket> has never seen them, and a handler that ignores
	 * channelname would show them to whoever looks at the page.
	 *
	 * opts: url, ticket, ticketUrl (POST, same-origin, answers JSON with a
	 * "ticket"), getTicket, invokeUrl (POST, same-origin: runs invoke()),
	 * onMessage, onOpen, onClose, onError, onDirectMessage, subscribeTo
	 * (array or comma list), directMessages (default false), autoOpen
	 * (default true) */
	function CfWebSocket(opts) {
		var self = this;
		opts = opts || {};
		this.opts = opts;
		this.handlers = {}; /* channel -> per-channel message handler */
		this.asked = {}; /* channels the page subscribed to itself */
		this.implied = {}; /* sub-channel -> the parent it is subscribed for */
		this.dmTimer = null;
		this.direct = opts.directMessages === true || opts.directMessages === 'true';
		var getTicket = opts.getTicket;
		if (!getTicket && opts.ticketUrl) {
			getTicket = function () {
				return fetchTicket(opts.ticketUrl);
			};
		}
		this.conn = new Connection({
			url: opts.url,
			ticket: opts.ticket,
			getTicket: getTicket,
			backoffMs: opts.backoffMs,
			maxBackoffMs: opts.maxBackoffMs
		});
		var c = this.conn;
		this.wasOpen = false;
		c.on('welcome', function (user) {
			self.user = user;
			self.wasOpen = true;
			self.call('onOpen', { type: 'response', reqType: 'welcome', code: 0,
					      msg: 'ok', user: user });
			self.findChildren();
			if (self.direct)
				self.refreshDirect(true);
		});
		c.on('close', function (d) {
			self.closed(d.code, d.reason || 'closed');
		});
		c.on('error', function (err) {
			/* an error answering a request (it carries the request's
			 * ref) is reported where that request was made */
			if (err && err.ref)
				return;
			self.fail('error', err);
		});
		c.on('event', function (ev, info) {
			self.deliver(ev, info);
		});
		c.on('unread', function (u) {
			if (self.direct && /^dm:/.test(u.channel) && !c.channels[u.channel])
				self.refreshDirect(false);
		});
		var subs = opts.subscribeTo;
		if (typeof subs === 'string')
			subs = subs.split(',');
		(subs || []).forEach(function (s) {
			s = String(s).trim();
			if (s) {
				self.asked[s] = true;
				c.subscribe(s, { after: 'live' }).then(null, noop);
			}
		});
		if (opts.autoOpen !== false)
			this.openConnection();
	}

	/* A Promise the caller may ignore: a rejection then ends nowhere
	 * (the callbacks have heard of it already). */
	function quiet(p) {
		p.then(null, noop);
		return p;
	}

	CfWebSocket.prototype.safe = function (fn, arg) {
		try {
			fn(arg);
		} catch (e) {
			if (global.console)
				console.error('crosstalk: handler threw', e);
		}
	};

	CfWebSocket.prototype.handler = function (name) {
		var fn = this.opts[name];
		if (typeof fn === 'string')
			fn = global[fn];
		return typeof fn === 'function' ? fn : null;
	};

	CfWebSocket.prototype.call = function (name, arg) {
		var fn = this.handler(name);
		if (fn)
			this.safe(fn, arg);
	};

	/* an answer to a request, as ColdFusion sends it: to onMessage */
	CfWebSocket.prototype.respond = function (reqType, extra) {
		var m = { type: 'response', reqType: reqType, code: 0, msg: 'ok' };
		for (var k in extra || {})
			if (Object.prototype.hasOwnProperty.call(extra, k))
				m[k] = extra[k];
		this.call('onMessage', m);
		return m;
	};

	/* an error, as ColdFusion sends it: to onError, or to onMessage when
	 * the page has no onError. reason: crosstalk's error code. */
	CfWebSocket.prototype.fail = function (reqType, err, extra) {
		var m = { type: 'response', reqType: reqType, code: -1,
			  msg: (err && err.message) || String(err),
			  reason: (err && err.code) || 'error', error: err };
		for (var k in extra || {})
			if (Object.prototype.hasOwnProperty.call(extra, k))
				m[k] = extra[k];
		this.call(this.handler('onError') ? 'onError' : 'onMessage', m);
		return m;
	};

	CfWebSocket.prototype.closed = function (code, reason) {
		if (!this.wasOpen)
			return;
		this.wasOpen = false;
		this.call('onClose', { type: 'response', reqType: 'close', code: code, msg: reason });
	};

	/* the channel a stream event is delivered for: itself when the page
	 * subscribed to it, else the nearest parent it subscribed to */
	CfWebSocket.prototype.owner = function (channel) {
		if (this.asked[channel] || /^dm:/.test(channel))
			return channel;
		return this.implied[channel] || channel;
	};

	/* a message published as an object by a page (or a server) on this
	 * layer: its client_id starts with "cfj-", its text is the object's
	 * JSON; the page gets the object back, as ColdFusion handed it over */
	function published(ev) {
		if (typeof ev.client_id === 'string' && ev.client_id.indexOf(JSON_ID) === 0 && ev.type !== 'deleted') {
			try {
				return JSON.parse(ev.text);
			} catch (e) { /* edited into plain text: text it is */ }
		}
		return ev.text;
	}

	CfWebSocket.prototype.deliver = function (ev, info) {
		if (ev.type === 'channel' || ev.type === 'member' || ev.type === 'reaction')
			return; /* not a message: cfwebsocket handlers never saw these */
		var m = {
			type: 'data', code: 0, msg: 'ok',
			channelname: ev.channel,
			data: published(ev),
			text: ev.text,
			event: ev.type,
			id: ev.id, seq: ev.seq, app: ev.app,
			publisherid: ev.user && ev.user.id,
			publishername: ev.user && ev.user.name,
			clientid: ev.client_id,
			created_at: ev.created_at,
			replay: !!(info && info.replay)
		};
		if (ev.type === 'deleted')
			m.deleted = true;
		if (ev.edited_at)
			m.edited_at = ev.edited_at;
		if (/^dm:/.test(ev.channel) && this.handler('onDirectMessage')) {
			this.call('onDirectMessage', m);
			return;
		}
		var h = this.handlers[this.owner(ev.channel)];
		if (typeof h === 'function')
			this.safe(h, m);
		else
			this.call('onMessage', m);
	};

	/* subscribe, for every subscribed parent, to its sub-channels the user
	 * may read; a sub-channel found later starts from that moment, and
	 * after a reconnect each resumes from its own last seq */
	CfWebSocket.prototype.findChildren = function () {
		var self = this, c = this.conn;
		var parents = Object.keys(this.asked);
		if (!parents.length || !c.isOpen())
			return Promise.resolve([]);
		return c.listChannels().then(function (r) {
			var added = [];
			(r.channels || []).forEach(function (ch) {
				var name = ch.name, best = null;
				if (/^dm:/.test(name) || self.asked[name])
					return;
				parents.forEach(function (p) {
					if (name.indexOf(p + '.') === 0 && (!best || p.length > best.length))
						best = p;
				});
				if (!best)
					return;
				self.implied[name] = best;
				if (!c.channels[name]) {
					added.push(name);
					c.subscribe(name, { after: 'live' }).then(null, noop);
				}
			});
			return added;
		}, function () {
			return [];
		});
	};

	/* subscribe to the user's direct channels (opt-in), so sendMessage
	 * replies arrive: at connect from now on; one that appears later
	 * (someone wrote first) from its first unread message */
	CfWebSocket.prototype.refreshDirect = function (initial) {
		var c = this.conn;
		c.listChannels().then(function (r) {
			(r.channels || []).forEach(function (ch) {
				if (!/^dm:/.test(ch.name) || c.channels[ch.name])
					return;
				var after = initial ? 'live' :
					Math.max(0, seqNum(ch.last_seq) - (parseInt(ch.unread, 10) || 0));
				c.subscribe(ch.name, { after: after }).then(null, noop);
			});
		}, noop);
	};

	/* subscribe(channel[, customHeader][, messageHandler]) */
	CfWebSocket.prototype.subscribe = function (channel, header, handler) {
		var self = this;
		if (typeof header === 'function') {
			handler = header;
			header = null;
		}
		channel = String(channel);
		if (typeof handler === 'function')
			this.handlers[channel] = handler;
		this.asked[channel] = true;
		delete this.implied[channel];
		return quiet(this.conn.subscribe(channel, { after: 'live' }).then(function (r) {
			self.findChildren();
			self.respond('subscribe', { channelname: channel });
			return r;
		}, function (err) {
			delete self.asked[channel];
			self.fail('subscribe', err, { channelname: channel });
			throw err;
		}));
	};

	CfWebSocket.prototype.unsubscribe = function (channel) {
		var self = this, c = this.conn;
		channel = String(channel);
		delete this.handlers[channel];
		delete this.asked[channel];
		/* its sub-channels go too, unless the page asked for them */
		Object.keys(this.implied).forEach(function (sub) {
			if (self.implied[sub] !== channel)
				return;
			delete self.implied[sub];
			if (!self.asked[sub])
				c.unsubscribe(sub).then(null, noop);
		});
		return quiet(c.unsubscribe(channel).then(function (r) {
			self.respond('unsubscribe', { channelname: channel });
			return r;
		}, function (err) {
			self.fail('unsubscribe', err, { channelname: channel });
			throw err;
		}));
	};

	/* publish(channel, message[, customHeader]) - a non-string message is
	 * sent as its JSON text */
	CfWebSocket.prototype.publish = function (channel, message) {
		var self = this;
		return quiet(this.send(channel, message).then(function (ack) {
			self.respond('publish', { channelname: channel });
			return ack;
		}, function (err) {
			self.fail('publish', err, { channelname: channel });
			throw err;
		}));
	};

	/* a string goes as it is; anything else as its JSON text, marked (by
	 * its client_id) for pages on this layer to get the object back */
	CfWebSocket.prototype.send = function (channel, message) {
		if (typeof message === 'string')
			return this.conn.publish(channel, message);
		return this.conn.publish(channel, JSON.stringify(message), randomId(JSON_ID));
	};

	/* the answer also reaches onMessage as {reqType:"getSubscriberCount"} */
	CfWebSocket.prototype.getSubscriberCount = function (channel) {
		var self = this;
		return quiet(this.conn.presence(channel).then(function (r) {
			var seen = {};
			(r.users || []).forEach(function (u) {
				seen[u.id] = true;
			});
			var n = Object.keys(seen).length;
			self.respond('getSubscriberCount', { channelname: channel, subscriberCount: n });
			return n;
		}, function (err) {
			self.fail('getSubscriberCount', err, { channelname: channel });
			throw err;
		}));
	};

	/* the channels the page subscribed to (not the sub-channels and direct
	 * channels subscribed on its behalf); also sent to onMessage, where
	 * ColdFusion answers it */
	CfWebSocket.prototype.getSubscriptions = function () {
		var self = this;
		var list = this.conn.subscriptions().filter(function (ch) {
			return self.asked[ch];
		});
		this.respond('getSubscriptions', { channels: list.slice() });
		return list;
	};

	/* invoke(cfcName, methodName[, arguments]): ColdFusion ran a CFC method
	 * on its own server; here the app does, at invokeUrl (a same-origin POST
	 * of {cfc, method, arguments} as JSON, answering the result as JSON).
	 * The result reaches onMessage as {reqType:"invoke", data}. */
	CfWebSocket.prototype.invoke = function (cfc, method, args) {
		var self = this;
		return quiet(this.invoked(cfc, method, args).then(function (data) {
			self.respond('invoke', { data: data, cfc: cfc, method: method });
			return data;
		}, function (err) {
			self.fail('invoke', err, { cfc: cfc, method: method });
			throw err;
		}));
	};

	/* invokeAndPublish(channel, cfcName, methodName[, arguments]): invoke,
	 * then publish what the method returned to the channel */
	CfWebSocket.prototype.invokeAndPublish = function (channel, cfc, method, args) {
		var self = this;
		return quiet(this.invoked(cfc, method, args).then(function (data) {
			return self.send(channel, data);
		}).then(function (ack) {
			self.respond('invokeAndPublish', { channelname: channel, cfc: cfc, method: method });
			return ack;
		}, function (err) {
			self.fail('invokeAndPublish', err, { channelname: channel, cfc: cfc, method: method });
			throw err;
		}));
	};

	CfWebSocket.prototype.invoked = function (cfc, method, args) {
		var url = this.opts.invokeUrl;
		if (!url)
			return Promise.reject({ code: 'not_supported', message:
				'invoke needs an invokeUrl (data-invoke-url): a page of the app that runs the method' });
		return fetch(url, {
			method: 'POST',
			credentials: 'same-origin',
			headers: { 'X-Requested-With': 'crosstalk', 'Content-Type': 'application/json' },
			body: JSON.stringify({ cfc: String(cfc), method: String(method),
					       arguments: args === undefined ? [] : args })
		}).then(function (r) {
			return r.text().then(function (t) {
				var v;
				try {
					v = t ? JSON.parse(t) : null;
				} catch (e) {
					v = t;
				}
				if (!r.ok)
					throw { code: r.status === 403 ? 'forbidden' : 'invoke_failed',
						message: 'invokeUrl answered ' + r.status };
				return v;
			});
		});
	};

	/* authenticate(id, password): ColdFusion checked these in
	 * onWSAuthenticate. Here the ticket the app minted for its logged-in
	 * user is the authentication, so nothing is sent anywhere (never the
	 * password): the answer says whether this connection is signed in. */
	CfWebSocket.prototype.authenticate = function () {
		var self = this, c = this.conn;
		var settle = function () {
			if (c.isOpen()) {
				self.respond('authenticate', { user: c.user });
				return true;
			}
			self.fail('authenticate', { code: 'unauthorized', message: 'not signed in to the chat' });
			return false;
		};
		if (c.isOpen() || !c.wanted)
			return quiet(Promise.resolve(settle()));
		return quiet(new Promise(function (resolve) {
			var done = false;
			var finish = function () {
				if (!done) {
					done = true;
					resolve(settle());
				}
			};
			c.on('welcome', finish);
			setTimeout(finish, REQUEST_TIMEOUT_MS);
		}));
	};

	CfWebSocket.prototype.openConnection = function () {
		var self = this, c = this.conn;
		c.open();
		if (this.direct && !this.dmTimer) {
			/* nothing tells a page that someone opened a direct
			 * conversation with its user: look now and then */
			this.dmTimer = setInterval(function () {
				if (c.isOpen())
					self.refreshDirect(false);
			}, 20000);
		}
	};

	/* closes the connection and stops every timer of this object */
	CfWebSocket.prototype.closeConnection = function () {
		if (this.dmTimer)
			clearInterval(this.dmTimer);
		this.dmTimer = null;
		this.conn.close();
		this.closed(1000, 'closed by the page');
	};

	CfWebSocket.prototype.isConnectionOpen = function () {
		return this.conn.isOpen();
	};

	/* sendMessage(userId, text): a direct message to one user; replies
	 * arrive on that direct channel (subscribed by this call) */
	CfWebSocket.prototype.sendMessage = function (userId, text) {
		var c = this.conn;
		if (!c.user)
			return quiet(Promise.reject({ code: 'unavailable', message: 'not connected yet' }));
		var ch;
		try {
			ch = dmChannel(c.user.id, userId);
		} catch (e) {
			return quiet(Promise.reject({ code: 'invalid', message: e.message }));
		}
		if (!c.channels[ch])
			c.subscribe(ch, { after: 'live' }).then(null, noop);
		return this.publish(ch, text);
	};

	/* ColdFusion.JSON.encode/decode, which <cfwebsocket> pages call */
	function installColdFusionJson() {
		var cf = global.ColdFusion = global.ColdFusion || {};
		if (!cf.JSON)
			cf.JSON = {
				encode: function (v) {
					return JSON.stringify(v);
				},
				decode: function (s) {
					return typeof s === 'string' ? JSON.parse(s) : s;
				}
			};
	}

	/* POST to the app's own ticket endpoint (same origin, with its cookie) */
	function fetchTicket(url) {
		return fetch(url, {
			method: 'POST',
			credentials: 'same-origin',
			headers: { 'X-Requested-With': 'crosstalk' }
		}).then(function (r) {
			if (!r.ok)
				throw new Error('ticket endpoint answered ' + r.status);
			return r.json();
		}).then(function (j) {
			return j && j.ticket;
		});
	}

	/* ---- the loader -------------------------------------------------- */

	/* <script src=".../crosstalk.js" data-name="ws" data-on-message="fn"
	 *   data-subscribe-to="general" data-ticket-url="/chat/ticket"></script>
	 * The <cfwebsocket> spellings (name, onMessage, subscribeTo ...) are read
	 * too, so renaming the tag is enough. */
	function attr(el, names) {
		for (var i = 0; i < names.length; i++) {
			var v = el.getAttribute(names[i]);
			if (v !== null && v !== '')
				return v;
		}
		return null;
	}

	function load(el) {
		var name = attr(el, ['data-name', 'name']);
		if (!name)
			return null;
		var src = el.getAttribute('src') ? el.src : global.location.href;
		var opts = {
			url: attr(el, ['data-url']) || wsUrlFor(src),
			ticket: attr(el, ['data-ticket', 'ticket']),
			ticketUrl: attr(el, ['data-ticket-url', 'ticketurl']),
			onMessage: attr(el, ['data-on-message', 'onmessage']),
			onOpen: attr(el, ['data-on-open', 'onopen']),
			onClose: attr(el, ['data-on-close', 'onclose']),
			onError: attr(el, ['data-on-error', 'onerror']),
			onDirectMessage: attr(el, ['data-on-direct-message']),
			subscribeTo: attr(el, ['data-subscribe-to', 'subscribeto']),
			invokeUrl: attr(el, ['data-invoke-url']),
			directMessages: attr(el, ['data-direct-messages']) === 'true'
		};
		/* handlers are looked up by name when called, so they may be
		 * defined after this script runs */
		var ws = new CfWebSocket(opts);
		global[name] = ws;
		return ws;
	}

	installColdFusionJson();

	var api = {
		Connection: Connection,
		WebSocket: CfWebSocket,
		dmChannel: dmChannel,
		validUserId: validUserId,
		wsUrlFor: wsUrlFor,
		fetchTicket: fetchTicket,
		randomId: randomId,
		load: load,
		version: '1'
	};
	global.crosstalk = api;

	var me = global.document && global.document.currentScript;
	/* the object exists as soon as this script has run; handlers are
	 * looked up by name when called, so they may be defined further down */
	if (me && attr(me, ['data-name', 'name']))
		load(me);
})(typeof window !== 'undefined' ? window : this);
