/* crosstalk-embed.js - put the crosstalk chat widget into an app's page.
 *
 *   <div id="chat"></div>
 *   <script async src="https://chat.example.com/crosstalk-embed.js"
 *           data-target="#chat" data-channel="general"
 *           data-ticket-url="/chat/ticket"></script>
 *
 * or crosstalkEmbed.mount({target, channel, ticket, ticketUrl | getTicket}).
 * data-widget-url (mount's widgetUrl) names the widget when this script is
 * served from somewhere else than the chat daemon.
 *
 * It mounts the iframe, hands the widget a ticket whenever the widget asks
 * (crosstalk:auth-required), re-dispatches every crosstalk:* message from
 * the widget as a DOM CustomEvent (bubbling from the target element, so
 * document.addEventListener('crosstalk:message', ...) works), resizes the
 * iframe on crosstalk:resize and calls window.msgHook(text) for each new
 * message from someone else when the page defines one.
 *
 * Chat never holds the page up: the script is meant to load async, tickets
 * come from the app's ticket URL after the page is shown, and when the hub
 * (or the app's ticket URL) does not answer, the widget - or, when the
 * widget itself cannot load, a line in its place - says the chat is
 * unavailable and tries again with a growing pause, until it is back.
 */
(function (global) {
	'use strict';

	var doc = global.document;
	var script = doc.currentScript;
	var scriptOrigin = script && script.src ? new URL(script.src).origin : null;

	var TICKET_TIMEOUT_MS = 8000;
	var READY_TIMEOUT_MS = 6000;
	var PROBE_TIMEOUT_MS = 4000;
	var RETRY_MIN_MS = 1000, RETRY_MAX_MS = 30000;

	/* A ticket from the app's own URL. Rejects with err.signedOut when the
	 * app says the user is not logged in (401/403): nothing to retry. Any
	 * other failure (no answer within timeoutMs, 5xx, not JSON) is the hub
	 * or the app being unavailable: worth retrying. */
	function fetchTicket(url, timeoutMs) {
		var ctl = typeof AbortController === 'function' ? new AbortController() : null;
		var timer = ctl ? setTimeout(function () {
			ctl.abort();
		}, timeoutMs || TICKET_TIMEOUT_MS) : null;
		return fetch(url, {
			method: 'POST',
			credentials: 'same-origin',
			cache: 'no-store',
			headers: { 'X-Requested-With': 'crosstalk' },
			signal: ctl ? ctl.signal : undefined
		}).then(function (r) {
			if (!r.ok) {
				var e = new Error('ticket endpoint answered ' + r.status);
				e.status = r.status;
				e.signedOut = r.status === 401 || r.status === 403;
				e.retryAfterMs = (parseInt(r.headers.get('Retry-After'), 10) || 0) * 1000;
				throw e;
			}
			return r.json();
		}).then(function (j) {
			if (!j || typeof j.ticket !== 'string' || !j.ticket)
				throw new Error('no ticket in the answer');
			return j.ticket;
		}, function (e) {
			if (e && e.name === 'AbortError')
				throw new Error('ticket endpoint did not answer in time');
			throw e;
		}).then(function (t) {
			clearTimeout(timer);
			return t;
		}, function (e) {
			clearTimeout(timer);
			throw e;
		});
	}

	/* attempt 0, 1, 2...: 1 s, 2 s, 4 s... up to 30 s, half of it random */
	function backoff(attempt) {
		var ceil = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * Math.pow(2, Math.min(attempt, 10)));
		return Math.round(ceil / 2 + Math.random() * ceil / 2);
	}

	function mount(opts) {
		opts = opts || {};
		var target = typeof opts.target === 'string' ? doc.querySelector(opts.target) : opts.target;
		if (!target)
			throw new Error('crosstalk-embed: no target element');
		var widgetUrl = new URL(opts.widgetUrl || '/widget', opts.chatOrigin || scriptOrigin || global.location.href);
		var chatOrigin = widgetUrl.origin;
		if (opts.channel)
			widgetUrl.searchParams.set('channel', opts.channel);

		var ticket = opts.ticket || null; /* the first one, used once */
		var ticketTimeout = parseInt(opts.ticketTimeoutMs, 10) || TICKET_TIMEOUT_MS;
		var getTicket = opts.getTicket || (opts.ticketUrl ? function () {
			return fetchTicket(opts.ticketUrl, ticketTimeout);
		} : null);
		var fixedHeight = opts.height ? parseInt(opts.height, 10) : 0;
		var maxHeight = parseInt(opts.maxHeight, 10) || 720;
		var minHeight = parseInt(opts.minHeight, 10) || 320;
		var readyTimeout = parseInt(opts.readyTimeoutMs, 10) || READY_TIMEOUT_MS;
		var asking = false;
		var ready = false; /* the widget said crosstalk:ready */
		var theme = opts.theme || null; /* CSS variables, sent at every ready */
		var ticketAttempt = 0, ticketTimer = null;
		var loadAttempt = 0, loadTimer = null, watchdog = null;
		var destroyed = false;
		var notice = null; /* the "unavailable" line shown instead of the iframe */

		var iframe = doc.createElement('iframe');
		iframe.src = widgetUrl.href;
		iframe.title = opts.title || 'Chat';
		iframe.className = 'crosstalk-frame';
		iframe.referrerPolicy = 'origin';
		iframe.setAttribute('allow', '');
		iframe.style.border = '0';
		iframe.style.width = '100%';
		iframe.style.display = 'block';
		iframe.style.height = (fixedHeight || minHeight + 80) + 'px';
		target.appendChild(iframe);
		watchLoad();

		function send(msg) {
			if (iframe.contentWindow)
				iframe.contentWindow.postMessage(msg, chatOrigin);
		}

		function fire(type, detail) {
			var ev;
			try {
				ev = new CustomEvent(type, { detail: detail, bubbles: true });
			} catch (e) {
				ev = doc.createEvent('CustomEvent');
				ev.initCustomEvent(type, true, false, detail);
			}
			target.dispatchEvent(ev);
		}

		function giveTicket() {
			if (ticket) {
				var t = ticket;
				ticket = null;
				send({ type: 'crosstalk:auth', ticket: t });
				return;
			}
			if (!getTicket || asking || ticketTimer || destroyed)
				return;
			asking = true;
			Promise.resolve().then(getTicket).then(function (t) {
				asking = false;
				if (destroyed)
					return;
				if (!t)
					throw new Error('no ticket');
				ticketAttempt = 0;
				send({ type: 'crosstalk:auth', ticket: t });
			}).then(null, function (err) {
				asking = false;
				if (destroyed)
					return;
				var msg = String(err && err.message || err);
				if (err && err.signedOut) {
					/* the app says: nobody is logged in. Nothing to retry. */
					fire('crosstalk:error', { type: 'crosstalk:error', code: 'unauthorized',
								  message: msg });
					return;
				}
				var wait = Math.max(backoff(ticketAttempt++), err && err.retryAfterMs || 0);
				send({ type: 'crosstalk:unavailable', retry_in_ms: wait });
				fire('crosstalk:connection', { type: 'crosstalk:connection', state: 'unavailable',
							       retry_in_ms: wait, reason: msg });
				ticketTimer = setTimeout(function () {
					ticketTimer = null;
					giveTicket();
				}, wait);
			});
		}

		/* The widget cannot load when its daemon is down: the iframe then
		 * shows the browser's error page and never says crosstalk:ready. A
		 * widget that loaded but stays silent (an origin that is not
		 * registered) must not be reloaded forever, so ask the daemon
		 * itself before deciding it is down. */
		function watchLoad() {
			clearTimeout(watchdog);
			watchdog = setTimeout(function () {
				watchdog = null;
				check();
			}, readyTimeout);
		}

		/* not ready: is the daemon there at all? If it is, a (re)load is
		 * worth one more try (once it comes back after being down); if
		 * not, say so and look again after a growing pause */
		function check() {
			if (ready || destroyed)
				return;
			probe().then(function (up) {
				if (ready || destroyed)
					return;
				if (up) {
					if (notice) {
						/* back: load it once more and show it */
						hideNotice();
						reload();
					}
					return;
				}
				var wait = backoff(loadAttempt++);
				showNotice(wait);
				fire('crosstalk:connection', { type: 'crosstalk:connection',
							       state: 'unavailable', retry_in_ms: wait,
							       reason: 'the chat did not load' });
				loadTimer = setTimeout(function () {
					loadTimer = null;
					check();
				}, wait);
			});
		}

		function probe() {
			var ctl = typeof AbortController === 'function' ? new AbortController() : null;
			var timer = ctl ? setTimeout(function () {
				ctl.abort();
			}, PROBE_TIMEOUT_MS) : null;
			/* no-cors: an answer of any kind means the daemon is up */
			return fetch(chatOrigin + '/health', { mode: 'no-cors', cache: 'no-store',
							       credentials: 'omit',
							       signal: ctl ? ctl.signal : undefined })
				.then(function () {
					clearTimeout(timer);
					return true;
				}, function () {
					clearTimeout(timer);
					return false;
				});
		}

		function reload() {
			iframe.src = widgetUrl.href;
			watchLoad();
		}

		function showNotice(waitMs) {
			if (!notice) {
				notice = doc.createElement('div');
				notice.className = 'crosstalk-unavailable';
				notice.setAttribute('role', 'status');
				notice.style.cssText = 'padding:12px 14px;border:1px solid #e3d7a8;' +
					'background:#fff8e1;color:#6b4e00;font:14px/1.4 system-ui,sans-serif;' +
					'border-radius:6px';
				target.insertBefore(notice, iframe);
			}
			iframe.style.display = 'none';
			var until = Date.now() + waitMs;
			var tick = function () {
				if (!notice)
					return;
				var s = Math.max(0, Math.ceil((until - Date.now()) / 1000));
				notice.textContent = 'Chat is unavailable right now. ' +
					(s > 0 ? 'Retrying in ' + s + ' s\u2026' : 'Retrying\u2026');
				if (s > 0)
					setTimeout(tick, 1000);
			};
			tick();
		}

		function hideNotice() {
			if (notice && notice.parentNode)
				notice.parentNode.removeChild(notice);
			notice = null;
			iframe.style.display = 'block';
		}

		function onMessage(e) {
			/* only our own iframe, from the chat's origin */
			if (e.source !== iframe.contentWindow || e.origin !== chatOrigin)
				return;
			var d = e.data;
			if (!d || typeof d !== 'object' || typeof d.type !== 'string' ||
			    d.type.indexOf('crosstalk:') !== 0)
				return;
			switch (d.type) {
			case 'crosstalk:ready':
				ready = true;
				loadAttempt = 0;
				clearTimeout(watchdog);
				clearTimeout(loadTimer);
				hideNotice();
				if (theme)
					send({ type: 'crosstalk:theme', vars: theme });
				break;
			case 'crosstalk:auth-required':
				giveTicket();
				break;
			case 'crosstalk:resize':
				if (!fixedHeight && typeof d.height === 'number') {
					var h = Math.max(minHeight, Math.min(maxHeight, Math.round(d.height)));
					iframe.style.height = h + 'px';
				}
				break;
			case 'crosstalk:message':
				if (!d.mine && typeof global.msgHook === 'function') {
					try {
						global.msgHook(d.text, d);
					} catch (err) {
						if (global.console)
							console.error('crosstalk-embed: msgHook threw', err);
					}
				}
				break;
			}
			fire(d.type, d);
		}
		global.addEventListener('message', onMessage);

		function onVisibility() {
			send({ type: 'crosstalk:visibility', visible: doc.visibilityState !== 'hidden' });
		}
		doc.addEventListener('visibilitychange', onVisibility);

		return {
			iframe: iframe,
			origin: chatOrigin,
			openChannel: function (name, title) {
				send({ type: 'crosstalk:open-channel', channel: name, title: title });
			},
			setVisible: function (v) {
				send({ type: 'crosstalk:visibility', visible: !!v });
			},
			/* theme({'--accent': '#0a7', '--font': 'Georgia, serif'}): the
			 * widget takes the CSS variables it knows, with values of their
			 * kind, from a registered page only */
			setTheme: function (vars) {
				theme = vars;
				send({ type: 'crosstalk:theme', vars: vars });
			},
			auth: function (t) {
				send({ type: 'crosstalk:auth', ticket: t });
			},
			logout: function () {
				send({ type: 'crosstalk:logout' });
			},
			destroy: function () {
				destroyed = true;
				clearTimeout(ticketTimer);
				clearTimeout(watchdog);
				clearTimeout(loadTimer);
				hideNotice();
				global.removeEventListener('message', onMessage);
				doc.removeEventListener('visibilitychange', onVisibility);
				if (iframe.parentNode)
					iframe.parentNode.removeChild(iframe);
			}
		};
	}

	var api = { mount: mount, fetchTicket: fetchTicket };
	global.crosstalkEmbed = api;

	/* data-theme: a JSON object of CSS variables, e.g.
	 * data-theme='{"--accent":"#0a7"}'; anything else is ignored */
	function parseTheme(text) {
		try {
			var v = text ? JSON.parse(text) : null;
			return v && typeof v === 'object' ? v : null;
		} catch (e) {
			return null;
		}
	}

	/* declarative use: data-target on this script element */
	if (script && script.getAttribute('data-target')) {
		var d = script.dataset;
		var go = function () {
			global.crosstalkChat = mount({
				target: d.target,
				channel: d.channel,
				ticket: d.ticket,
				ticketUrl: d.ticketUrl,
				height: d.height,
				maxHeight: d.maxHeight,
				title: d.title,
				widgetUrl: d.widgetUrl,
				ticketTimeoutMs: d.ticketTimeoutMs,
				readyTimeoutMs: d.readyTimeoutMs,
				theme: parseTheme(d.theme)
			});
		};
		if (doc.readyState === 'loading')
			doc.addEventListener('DOMContentLoaded', go);
		else
			go();
	}
})(window);
