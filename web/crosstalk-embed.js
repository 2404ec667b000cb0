/* crosstalk-embed.js - put the crosstalk chat widget into an app's page.
 *
 *   <div id="chat"></div>
 *   <script src="https://chat.example.com/crosstalk-embed.js"
 *           data-target="#chat" data-channel="general"
 *           data-ticket="(minted by the app's server)"
 *           data-ticket-url="/chat/ticket"></script>
 *
 * or crosstalkEmbed.mount({target, channel, ticket, ticketUrl | getTicket}).
 *
 * It mounts the iframe, hands the widget a ticket whenever the widget asks
 * (crosstalk:auth-required), re-dispatches every crosstalk:* message from
 * the widget as a DOM CustomEvent (bubbling from the target element, so
 * document.addEventListener('crosstalk:message', ...) works), resizes the
 * iframe on crosstalk:resize and calls window.msgHook(text) for each new
 * message from someone else when the page defines one.
 */
(function (global) {
	'use strict';

	var doc = global.document;
	var script = doc.currentScript;
	var scriptOrigin = script && script.src ? new URL(script.src).origin : null;

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
			if (!j || typeof j.ticket !== 'string')
				throw new Error('no ticket in the answer');
			return j.ticket;
		});
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
		var getTicket = opts.getTicket || (opts.ticketUrl ? function () {
			return fetchTicket(opts.ticketUrl);
		} : null);
		var fixedHeight = opts.height ? parseInt(opts.height, 10) : 0;
		var maxHeight = parseInt(opts.maxHeight, 10) || 720;
		var minHeight = parseInt(opts.minHeight, 10) || 320;
		var asking = false;

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
			if (!getTicket || asking)
				return;
			asking = true;
			Promise.resolve().then(getTicket).then(function (t) {
				asking = false;
				if (t)
					send({ type: 'crosstalk:auth', ticket: t });
			}, function (err) {
				asking = false;
				fire('crosstalk:error', { type: 'crosstalk:error', code: 'ticket',
							  message: String(err && err.message || err) });
			});
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
			auth: function (t) {
				send({ type: 'crosstalk:auth', ticket: t });
			},
			logout: function () {
				send({ type: 'crosstalk:logout' });
			},
			destroy: function () {
				global.removeEventListener('message', onMessage);
				doc.removeEventListener('visibilitychange', onVisibility);
				if (iframe.parentNode)
					iframe.parentNode.removeChild(iframe);
			}
		};
	}

	var api = { mount: mount, fetchTicket: fetchTicket };
	global.crosstalkEmbed = api;

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
				title: d.title
			});
		};
		if (doc.readyState === 'loading')
			doc.addEventListener('DOMContentLoaded', go);
		else
			go();
	}
})(window);
