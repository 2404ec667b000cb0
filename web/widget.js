/* widget.js - the crosstalk chat widget (served at /widget?channel=C).
 *
 * Made for an iframe in a registered app's page; works full-page too.
 * Talks to the parent only through postMessage with the parent's exact
 * origin, and only when that origin is one of the registered app origins
 * (the same list the daemon puts in CSP frame-ancestors). Every piece of
 * user text goes into the page as text nodes or elements built one by one
 * (format.js for message words), never as HTML.
 */
(function () {
	'use strict';

	var ct = window.crosstalk;
	var $ = function (id) {
		return document.getElementById(id);
	};
	var ui = {
		app: $('ct-app'),
		channelList: $('ct-channel-list'),
		conn: $('ct-conn'),
		title: $('ct-title'),
		older: $('ct-older'),
		messages: $('ct-messages'),
		typing: $('ct-typing'),
		composer: $('ct-composer'),
		input: $('ct-input'),
		send: $('ct-send'),
		people: $('ct-people'),
		peopleList: $('ct-people-list'),
		peopleToggle: $('ct-people-toggle'),
		peopleCount: $('ct-people-count'),
		dirForm: $('ct-dir-form'),
		dirInput: $('ct-dir-input'),
		dirList: $('ct-dir-list'),
		dirMore: $('ct-dir-more'),
		groupStart: $('ct-group-start'),
		leave: $('ct-leave'),
		suggest: $('ct-suggest'),
		jump: $('ct-jump'),
		channelSelect: $('ct-channel-select'),
		notify: $('ct-notify'),
		search: $('ct-search'),
		searchToggle: $('ct-search-toggle'),
		searchForm: $('ct-search-form'),
		searchInput: $('ct-search-input'),
		searchClose: $('ct-search-close'),
		searchStatus: $('ct-search-status'),
		searchResults: $('ct-search-results'),
		searchMore: $('ct-search-more'),
		files: $('ct-files'),
		fileNote: $('ct-file-note'),
		attach: $('ct-attach'),
		fileInput: $('ct-file'),
		drop: $('ct-drop')
	};

	/* Every text shown, through one table (web/strings.js, which a deployer
	 * may replace with a translation): tr('Reply to {name}', {name: ..}). A
	 * text missing from the table shows as written here. */
	var STRINGS = window.crosstalkStrings || {};
	function tr(text, fields) {
		var s = Object.prototype.hasOwnProperty.call(STRINGS, text) ? String(STRINGS[text]) : text;
		return s.replace(/\{(\w+)\}/g, function (all, k) {
			return fields && Object.prototype.hasOwnProperty.call(fields, k) ? String(fields[k]) : all;
		});
	}
	/* the page's own texts: data-t (text), data-t-placeholder, data-t-label */
	Array.prototype.forEach.call(document.querySelectorAll('[data-t],[data-t-placeholder],[data-t-label]'),
		function (el) {
			if (el.hasAttribute('data-t'))
				el.textContent = tr(el.getAttribute('data-t'));
			if (el.hasAttribute('data-t-placeholder'))
				el.placeholder = tr(el.getAttribute('data-t-placeholder'));
			if (el.hasAttribute('data-t-label'))
				el.setAttribute('aria-label', tr(el.getAttribute('data-t-label')));
		});
	var inputHint = 'Write a message (Enter sends, Shift+Enter: new line)';
	var params = new URLSearchParams(location.search);
	var inFrame = window.parent !== window;
	var me = null; /* {app, id, name} after welcome */
	var channels = {}; /* name -> channel state */
	var order = []; /* channel names as listed */
	var active = null;
	var visible = document.visibilityState !== 'hidden';
	var parentOrigin = null; /* set once verified as registered */
	var registered = null; /* array of registered origins */
	var outQueue = []; /* posts waiting for parentOrigin */
	var lastTypingSent = 0;
	var readTimer = null;
	var signedOut = false;

	/* ---- talking to the parent page ------------------------------- */

	function post(type, data) {
		if (!inFrame)
			return;
		var msg = { type: 'crosstalk:' + type };
		if (data)
			for (var k in data)
				if (Object.prototype.hasOwnProperty.call(data, k))
					msg[k] = data[k];
		if (!parentOrigin) {
			if (outQueue.length < 100)
				outQueue.push(msg);
			return;
		}
		/* the exact registered origin, never "*" */
		window.parent.postMessage(msg, parentOrigin);
	}

	/* The registered app origins, from the daemon (/widget/config: the
	 * list it also puts in CSP frame-ancestors). Failing that, read the
	 * frame-ancestors of our own page (same origin: headers readable). */
	function loadRegistered() {
		return fetch('/widget/config', { credentials: 'omit', cache: 'no-store' })
			.then(function (r) {
				if (!r.ok)
					throw new Error('no config');
				return r.json();
			})
			.then(function (j) {
				if (!j || !Array.isArray(j.origins))
					throw new Error('no list');
				return j.origins;
			})
			.catch(function () {
				return fetch(location.pathname + location.search,
					     { method: 'HEAD', credentials: 'omit', cache: 'no-store' })
					.then(function (r) {
						return originsFromCsp(r.headers.get('content-security-policy'));
					});
			});
	}

	function originsFromCsp(csp) {
		var out = [];
		(csp || '').split(';').forEach(function (d) {
			var parts = d.trim().split(/\s+/);
			if (parts[0].toLowerCase() !== 'frame-ancestors')
				return;
			parts.slice(1).forEach(function (p) {
				if (/^https?:\/\/[^\s/]+$/i.test(p))
					out.push(p.toLowerCase());
			});
		});
		return out;
	}

	/* who framed us: the browser's answer, else the referrer's origin */
	function claimedParentOrigin() {
		if (location.ancestorOrigins && location.ancestorOrigins.length)
			return location.ancestorOrigins[0];
		try {
			if (document.referrer)
				return new URL(document.referrer).origin;
		} catch (e) { /* ignore */ }
		return null;
	}

	function isRegistered(origin) {
		return !!(registered && origin && registered.indexOf(origin.toLowerCase()) >= 0);
	}

	/* crosstalk:theme from the registered parent: a few CSS variables,
	 * each a colour (or, for --font, a list of font names) that cannot
	 * carry anything else (no url(), no expression, no semicolon) */
	var THEME = {
		'--bg': 'color', '--fg': 'color', '--muted': 'color', '--line': 'color',
		'--accent': 'color', '--accent-fg': 'color', '--mine': 'color', '--font': 'font',
		'--radius': 'length'
	};
	var THEME_OK = {
		color: /^(#[0-9a-f]{3,8}|(rgb|hsl)a?\([0-9., %]{1,40}\)|[a-z]{3,20})$/i,
		font: /^[a-z0-9 ,"'-]{1,100}$/i,
		length: /^[0-9]{1,2}(\.[0-9])?(px|em|rem)$/
	};
	function setTheme(vars) {
		if (!vars || typeof vars !== 'object')
			return;
		Object.keys(vars).forEach(function (k) {
			var kind = Object.prototype.hasOwnProperty.call(THEME, k) ? THEME[k] : null;
			var v = vars[k];
			if (!kind || typeof v !== 'string' || !THEME_OK[kind].test(v.trim()) || /url|expression/i.test(v))
				return; /* not ours to set, or not a value of its kind */
			document.documentElement.style.setProperty(k, v.trim());
		});
	}

	window.addEventListener('message', function (e) {
		/* only our direct parent, from its verified registered origin */
		if (!inFrame || e.source !== window.parent || !parentOrigin ||
		    e.origin !== parentOrigin || !isRegistered(e.origin))
			return;
		var d = e.data;
		if (!d || typeof d !== 'object' || typeof d.type !== 'string')
			return;
		switch (d.type) {
		case 'crosstalk:auth':
			if (typeof d.ticket === 'string' && d.ticket) {
				signedOut = false;
				conn.setTicket(d.ticket);
				conn.open();
			}
			break;
		case 'crosstalk:open-channel':
			if (typeof d.channel === 'string')
				openChannel(d.channel, d.title);
			break;
		case 'crosstalk:visibility':
			visible = !!d.visible;
			if (visible)
				markRead();
			break;
		case 'crosstalk:logout':
			logout();
			break;
		case 'crosstalk:theme':
			setTheme(d.vars);
			break;
		case 'crosstalk:unavailable':
			/* the page could not get a ticket (the hub or the app's ticket
			 * URL did not answer) and will try again */
			if (!conn.isOpen() && !signedOut)
				showConnState('unavailable', { retryInMs: d.retry_in_ms | 0 });
			break;
		}
	});

	/* ---- the connection -------------------------------------------- */

	var conn = new ct.Connection({ url: ct.wsUrlFor(location.href) });

	conn.on('state', function (state, detail) {
		ui.app.setAttribute('data-state', state);
		showConnState(state, detail);
		post('connection', { state: state, attempt: detail.attempt || 0,
				     retry_in_ms: detail.retryInMs || 0 });
	});
	conn.on('auth-required', function () {
		post('auth-required');
	});
	conn.on('welcome', function (user) {
		me = user;
		post('authenticated', { user: user });
		loadChannels();
	});
	conn.on('event', onEvent);
	conn.on('subscribed', function (s) {
		var c = channels[s.channel];
		if (!c)
			return;
		if (c.baseline === null)
			c.baseline = parseInt(s.last_seq, 10) || 0;
		c.loaded = true;
		if (c.name === active) {
			updateOlder();
			markRead();
		}
	});
	conn.on('typing', function (t) {
		var c = channels[t.channel];
		if (!c || !t.user || (me && t.user.id === me.id))
			return;
		c.typing[t.user.id] = { name: t.user.name || t.user.id, until: Date.now() + 5000 };
		if (t.channel === active)
			renderTyping();
	});
	/* someone mentioned this user: the parent page hears of it (to raise
	 * its own notice), and a hidden widget shows a system notification
	 * when the user allowed them */
	conn.on('mention', function (f) {
		var m = f.message || {};
		var c = ensureChannel(f.channel);
		if (!(c.name === active && visible))
			c.mentions = (c.mentions || 0) + 1;
		renderChannels();
		post('mention', {
			channel: f.channel, id: String(m.id), seq: String(m.seq), app: m.app,
			user: m.user ? { id: m.user.id, name: m.user.name } : null, text: m.text
		});
		if (!visible && window.Notification && Notification.permission === 'granted') {
			try {
				var n = new Notification(tr('{name} mentioned you', { name: m.user && m.user.name ? m.user.name : tr('Someone') }),
					{ body: String(m.text || '').slice(0, 200), tag: 'ct-' + m.id });
				n.onclick = function () {
					window.focus();
					showChannel(f.channel);
				};
			} catch (e) { /* some browsers allow them only from a service worker */ }
		}
	});

	conn.on('unread', function (u) {
		if (!channels[u.channel])
			refreshChannels(); /* a channel new to us: added to a group */
		var c = ensureChannel(u.channel);
		c.unread = parseInt(u.count, 10) || 0;
		c.mentions = parseInt(u.mentions, 10) || 0;
		renderChannels();
		postUnread();
	});
	conn.on('presence', function (p) {
		var c = channels[p.channel];
		if (!c)
			return;
		c.presence = {};
		(p.users || []).forEach(function (u) {
			addPresence(c, u);
		});
		renderPeople();
	});
	conn.on('join', function (j) {
		var c = channels[j.channel];
		if (c && j.user) {
			addPresence(c, j.user);
			renderPeople();
		}
	});
	conn.on('leave', function (j) {
		var c = channels[j.channel];
		if (c && j.user) {
			var key = j.user.id;
			if (c.presence[key]) {
				c.presence[key].count--;
				if (c.presence[key].count <= 0)
					delete c.presence[key];
			}
			renderPeople();
		}
	});
	conn.on('error', function (err) {
		post('error', { code: err.code || 'error', message: err.message || '' });
	});

	function addPresence(c, u) {
		var p = c.presence[u.id];
		if (p)
			p.count++;
		else
			c.presence[u.id] = { id: u.id, name: u.name || u.id, app: u.app, count: 1 };
		dmNames[u.id] = u.name || u.id;
	}

	/* ---- channels ---------------------------------------------------- */

	var dmNames = {}; /* user id -> display name, for DM tabs */

	function ensureChannel(name, title) {
		var c = channels[name];
		if (!c) {
			c = channels[name] = {
				name: name, title: title || '', unread: 0, baseline: null,
				archived: false,
				msgs: {}, els: {}, oldest: null, hasOlder: true, loaded: false,
				typing: {}, presence: {}, pending: {}, subscribed: false, backlog: false,
				attach: [], sendWhenReady: false
			};
			order.push(name);
		} else if (title) {
			c.title = title;
		}
		return c;
	}

	function dmPeer(name) {
		var m = /^dm:([^:]+):([^:]+)$/.exec(name);
		if (!m || !me)
			return null;
		return m[1] === me.id ? m[2] : m[1];
	}

	function label(c) {
		var peer = dmPeer(c.name);
		if (peer)
			return '@ ' + (dmNames[peer] || peer);
		return (c.private ? '🔒 ' : '# ') + (c.title || c.name);
	}

	function subscribe(c) {
		if (c.subscribed)
			return;
		c.subscribed = true;
		/* the open channel starts with its last 50 events; the others only
		 * from their current end (for unread counts), their backlog comes
		 * with history when they are opened */
		var after = -50;
		if (c.name !== active && c.baseline !== null)
			after = c.baseline;
		else
			c.backlog = true;
		conn.subscribe(c.name, { after: after }).then(null, function (err) {
			c.subscribed = false;
			if (err && err.code === 'not_found' && /^dm:/.test(c.name)) {
				/* a direct channel exists once someone writes in it */
				c.loaded = true;
				c.hasOlder = false;
				if (c.name === active)
					updateOlder();
				return;
			}
			if (err && err.code !== 'unavailable' && err.code !== 'timeout')
				post('error', { code: err.code, message: err.message, channel: c.name });
		});
	}

	function loadChannels() {
		conn.listChannels().then(function (r) {
			(r.channels || []).forEach(function (ch) {
				var c = ensureChannel(ch.name, ch.title);
				c.archived = !!ch.archived;
				c.private = !!ch.private;
				c.unread = parseInt(ch.unread, 10) || 0;
				c.mentions = parseInt(ch.mentions, 10) || 0;
				c.readMark = parseInt(ch.read_seq, 10) || 0;
				if (c.baseline === null && ch.last_seq !== undefined)
					c.baseline = parseInt(ch.last_seq, 10) || 0;
			});
			startChannels();
		}, function () {
			startChannels();
		});
	}

	function startChannels() {
		if (!active)
			active = params.get('channel') || (order[0] || 'general');
		ensureChannel(active);
		order.forEach(function (n) {
			subscribe(channels[n]);
		});
		renderChannels();
		showChannel(active);
		postUnread();
	}

	function openChannel(name, title) {
		if (!/^([a-z0-9][a-z0-9_.-]{0,63}|dm:[^:]+:[^:]+)$/.test(name))
			return;
		var known = !!channels[name];
		ensureChannel(name, title);
		if (me)
			subscribe(channels[name]);
		renderChannels();
		showChannel(name);
		if (!known && me)
			refreshChannels();
	}

	/* new channels and direct conversations, and titles, from the daemon */
	function refreshChannels() {
		if (!conn.isOpen())
			return;
		conn.listChannels().then(function (r) {
			(r.channels || []).forEach(function (ch) {
				var fresh = !channels[ch.name];
				var c = ensureChannel(ch.name, ch.title);
				c.archived = !!ch.archived;
				c.private = !!ch.private;
				if (fresh) {
					c.unread = parseInt(ch.unread, 10) || 0;
					c.mentions = parseInt(ch.mentions, 10) || 0;
					c.readMark = parseInt(ch.read_seq, 10) || 0;
				}
				if (c.baseline === null && ch.last_seq !== undefined)
					c.baseline = parseInt(ch.last_seq, 10) || 0;
				subscribe(c);
			});
			renderChannels();
			postUnread();
			if (active && channels[active])
				ui.title.textContent = label(channels[active]);
		}, function () {});
	}
	setInterval(refreshChannels, 30000);

	ui.jump.addEventListener('click', function () {
		var line = ui.messages.querySelector('.ct-new');
		if (line)
			ui.messages.scrollTop += line.getBoundingClientRect().top -
				ui.messages.getBoundingClientRect().top - 8;
		renderJump();
	});
	ui.messages.addEventListener('scroll', function () {
		if (!ui.jump.hidden)
			renderJump();
	});

	/* narrow widths: the channels as one select (the tab strip would hide
	 * all but a few) */
	function renderChannelSelect() {
		var sel = ui.channelSelect;
		while (sel.firstChild)
			sel.removeChild(sel.firstChild);
		order.forEach(function (name) {
			var c = channels[name];
			var o = document.createElement('option');
			o.value = name;
			o.textContent = label(c) + (c.unread > 0 && name !== active
				? ' (' + (c.mentions > 0 ? '@' : '') + c.unread + ')' : '');
			if (name === active)
				o.selected = true;
			sel.appendChild(o);
		});
	}
	ui.channelSelect.addEventListener('change', function () {
		showChannel(ui.channelSelect.value);
	});

	function renderChannels() {
		var list = ui.channelList;
		while (list.firstChild)
			list.removeChild(list.firstChild);
		order.forEach(function (name) {
			var c = channels[name];
			var li = document.createElement('li');
			var b = document.createElement('button');
			b.type = 'button';
			b.className = 'ct-chan';
			b.setAttribute('data-channel', name);
			var t = document.createElement('span');
			t.className = 'ct-chan-name';
			t.textContent = label(c);
			b.appendChild(t);
			if (c.unread > 0 && name !== active) {
				var badge = document.createElement('span');
				badge.className = c.mentions > 0 ? 'ct-badge ct-badge-mention' : 'ct-badge';
				badge.textContent = (c.mentions > 0 ? '@' : '') + (c.unread > 99 ? '99+' : String(c.unread));
				b.appendChild(badge);
				b.setAttribute('aria-label', tr('{channel}, {n} unread', { channel: label(c), n: c.unread }) +
					(c.mentions > 0 ? tr(', {n} mentions', { n: c.mentions }) : ''));
			}
			if (name === active)
				b.setAttribute('aria-current', 'true');
			b.addEventListener('click', function () {
				showChannel(name);
			});
			li.appendChild(b);
			list.appendChild(li);
		});
		renderChannelSelect();
		requestAnimationFrame(showCurrentTab);
		setTimeout(showCurrentTab, 150); /* again, once fonts and badges settle */
	}

	/* tabs while they all fit, else the select (measured with the tabs
	 * shown, so that a wider widget goes back to tabs) */
	function fitChannels() {
		var nav = ui.channelList.parentNode;
		ui.app.classList.remove('ct-select-channels');
		var over = nav.scrollWidth > nav.clientWidth + 1;
		ui.app.classList.toggle('ct-select-channels', over);
	}

	/* keep the current tab in view (without scrolling the parent page) */
	function showCurrentTab() {
		fitChannels();
		var list = ui.channelList, nav = list.parentNode;
		var cur = list.querySelector('.ct-chan[aria-current="true"]');
		if (!cur || !nav)
			return;
		var left = cur.offsetLeft - list.offsetLeft, right = left + cur.offsetWidth;
		if (left < nav.scrollLeft)
			nav.scrollLeft = Math.max(0, left - 8);
		else if (right > nav.scrollLeft + nav.clientWidth)
			nav.scrollLeft = right - nav.clientWidth + 8;
	}
	window.addEventListener('resize', function () {
		requestAnimationFrame(showCurrentTab);
	});

	function showChannel(name) {
		var c = ensureChannel(name);
		if (active && channels[active] && active !== name)
			channels[active].sendWhenReady = false;
		active = name;
		ui.title.textContent = label(c);
		renderComposer(c);
		renderReplying();
		c.dividerAt = c.unread > 0 ? (c.readSeq || c.readMark || 0) : null;
		var list = ui.messages;
		while (list.firstChild)
			list.removeChild(list.firstChild);
		sortedIds(c).forEach(function (id) {
			list.appendChild(c.els[id] || renderMsg(c, c.msgs[id]));
		});
		Object.keys(c.pending).forEach(function (cid) {
			list.appendChild(c.pending[cid]);
		});
		decorate(c);
		updateOlder();
		renderChannels();
		renderTyping();
		renderPeople();
		renderFiles();
		queueLinks();
		scrollToEnd();
		if (me) {
			conn.presence(name).then(null, function () {});
			markRead();
			if (!c.backlog && c.subscribed)
				loadBacklog(c);
		}
		queueResize();
	}

	/* the last 50 events before what a channel has shown so far */
	function loadBacklog(c) {
		var ch = conn.channels[c.name];
		var before = c.oldest !== null ? c.oldest : ch ? ch.lastSeq + 1 : 0;
		c.backlog = true;
		if (before <= 1) {
			c.hasOlder = false;
			return;
		}
		conn.history(c.name, before, 50).then(function (r) {
			(r.events || []).forEach(function (ev) {
				var m = apply(c, ev);
				if (m)
					placeMsg(c, m);
			});
			c.hasOlder = !!r.has_more;
			if (c.name === active) {
				scrollToEnd();
				updateOlder();
			}
		}, function () {
			c.backlog = false; /* try again when opened next */
		});
	}

	/* ---- messages ---------------------------------------------------- */

	function sortedIds(c) {
		return Object.keys(c.msgs).sort(function (a, b) {
			return c.msgs[a].pos - c.msgs[b].pos;
		});
	}

	/* one place every stream event lands (live, replayed, or history):
	 * the message keeps the position of its first event and the state
	 * of its newest one */
	function apply(c, ev) {
		var seq = parseInt(ev.seq, 10) || 0;
		var id = String(ev.id);
		var m = c.msgs[id];
		if (!m) {
			if (ev.type !== 'message')
				return null; /* an edit of a message not loaded: history brings it */
			m = c.msgs[id] = { id: id, pos: seq, stateSeq: 0 };
		}
		if (ev.type === 'message' && seq < m.pos)
			m.pos = seq;
		if (seq >= m.stateSeq) {
			m.stateSeq = seq;
			m.text = ev.text || '';
			m.user = ev.user || {};
			m.app = ev.app || '';
			m.created = ev.created_at_ms || Date.parse(ev.created_at) || 0;
			m.deleted = !!ev.deleted || ev.type === 'deleted';
			m.edited = !!ev.edited_at || ev.type === 'edited';
			m.clientId = ev.client_id || '';
			m.mentions = ev.mentions || [];
			m.replyTo = ev.reply_to || null;
			m.bot = !!ev.bot;
			m.reactions = ev.reactions || [];
			m.files = Array.isArray(ev.files) && !m.deleted ? ev.files : [];
		}
		if (c.oldest === null || m.pos < c.oldest)
			c.oldest = m.pos;
		return m;
	}

	/* a channel this user can no longer see: deleted, or removed from it */
	function dropChannel(name) {
		if (!channels[name])
			return;
		delete channels[name];
		order = order.filter(function (n) { return n !== name; });
		if (active === name)
			active = order[0] || null;
		renderChannels();
		if (active)
			showChannel(active);
		postUnread();
	}
	conn.on('removed', function (u) {
		dropChannel(u.channel);
	});

	/* the channel itself changed: title, archived, or gone */
	function onChannelEvent(ev) {
		var c = channels[ev.channel], ch = ev.changes || {};
		if (!c)
			return;
		if (ch.deleted) {
			dropChannel(c.name);
			return;
		}
		if (typeof ch.title === 'string')
			c.title = ch.title;
		if (typeof ch.archived === 'boolean')
			c.archived = ch.archived;
		renderChannels();
		if (active === c.name) {
			ui.title.textContent = label(c);
			renderComposer(c);
		}
	}

	/* an archived channel is read-only */
	function renderComposer(c) {
		ui.input.disabled = ui.send.disabled = ui.attach.disabled = !!c.archived;
		ui.input.placeholder = c.archived ? tr('This channel is archived') : tr(inputHint);
	}

	function onEvent(ev) {
		if (ev.type === 'channel') {
			onChannelEvent(ev);
			return;
		}
		if (ev.type === 'member')
			return; /* removal ends the subscription ('removed') */
		var c = ensureChannel(ev.channel);
		var isNew = c.baseline !== null && (parseInt(ev.seq, 10) || 0) > c.baseline;
		var m = apply(c, ev);
		if (!m)
			return;
		var mine = !!(me && m.user && m.user.id === me.id);
		if (ev.type === 'message' && ev.client_id && c.pending[ev.client_id]) {
			var p = c.pending[ev.client_id];
			if (p.parentNode)
				p.parentNode.removeChild(p);
			delete c.pending[ev.client_id];
		}
		if (ev.type === 'message' && m.user && m.user.id)
			dmNames[m.user.id] = m.user.name || m.user.id;
		if (ev.type === 'message' && c.typing[m.user.id])
			delete c.typing[m.user.id];
		placeMsg(c, m);
		if (isNew && ev.type === 'message') {
			var note = {
				channel: ev.channel, id: String(ev.id), seq: String(ev.seq), app: ev.app,
				user: { id: m.user.id, name: m.user.name }, text: m.text,
				created_at: ev.created_at, mine: mine
			};
			if (m.files.length)
				note.files = m.files.map(function (f) {
					return { id: String(f.id), name: f.name, type: f.type, size: f.size };
				});
			post('message', note);
			if (!mine && !(c.name === active && visible)) {
				c.unread++;
				renderChannels();
				postUnread();
			}
		}
		if (c.name === active) {
			renderTyping();
			if (visible)
				markRead();
		}
	}

	function placeMsg(c, m) {
		var el = renderMsg(c, m);
		if (c.name !== active)
			return;
		var list = ui.messages;
		var stick = nearEnd();
		if (!el.parentNode) {
			/* insert by position; usually the end */
			var after = null;
			for (var n = list.lastElementChild; n; n = n.previousElementSibling) {
				if (n.classList.contains('ct-pending') || n.classList.contains('ct-deco'))
					continue;
				if ((parseInt(n.getAttribute('data-pos'), 10) || 0) < m.pos) {
					after = n;
					break;
				}
			}
			var before = after ? after.nextSibling : list.firstChild;
			/* keep unacknowledged echoes last */
			while (before && !before.classList.contains('ct-pending') && after === null &&
			       (before.classList.contains('ct-deco') ||
				(parseInt(before.getAttribute('data-pos'), 10) || 0) < m.pos))
				before = before.nextSibling;
			list.insertBefore(el, before);
		}
		decorate(c);
		if (stick)
			scrollToEnd();
		queueResize();
		if (m.files.length)
			queueLinks();
	}

	/* ---- day separators and the "new messages" line ------------------ */

	function dayOf(ms) {
		var d = new Date(ms);
		return d.getFullYear() + '-' + d.getMonth() + '-' + d.getDate();
	}
	function dayText(ms) {
		var now = Date.now();
		if (dayOf(ms) === dayOf(now))
			return tr('Today');
		if (dayOf(ms) === dayOf(now - 86400000))
			return tr('Yesterday');
		return new Date(ms).toLocaleDateString(undefined, { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' });
	}
	function deco(cls, text) {
		var li = document.createElement('li');
		li.className = 'ct-deco ' + cls;
		var span = document.createElement('span');
		span.textContent = text;
		li.appendChild(span);
		return li;
	}
	/* the separators of the open channel, placed again from scratch: a day
	 * line before each day's first message, "New messages" before the first
	 * one after the read marker the channel had when it was opened */
	function decorate(c) {
		var list = ui.messages;
		Array.prototype.slice.call(list.querySelectorAll('.ct-deco')).forEach(function (el) {
			list.removeChild(el);
		});
		var lastDay = null, marked = c.dividerAt === null || c.dividerAt === undefined;
		for (var n = list.firstElementChild; n; n = n.nextElementSibling) {
			var m = n.classList.contains('ct-msg') && c.msgs[n.getAttribute('data-id')];
			if (!m || !m.created)
				continue;
			if (!marked && m.pos > c.dividerAt && !(me && m.user && m.user.id === me.id)) {
				marked = true;
				list.insertBefore(deco('ct-new', tr('New messages')), n);
			}
			var day = dayOf(m.created);
			if (day !== lastDay) {
				lastDay = day;
				list.insertBefore(deco('ct-day', dayText(m.created)), n.previousElementSibling &&
					n.previousElementSibling.classList.contains('ct-new') ? n.previousElementSibling : n);
			}
		}
		renderJump();
	}

	/* "Jump to first unread": shown while the new-messages line is above
	 * what the list shows */
	function renderJump() {
		var line = ui.messages.querySelector('.ct-new');
		ui.jump.hidden = !line ||
			line.getBoundingClientRect().top >= ui.messages.getBoundingClientRect().top;
	}

	function timeText(ms) {
		if (!ms)
			return '';
		var d = new Date(ms);
		var hh = String(d.getHours()), mm = String(d.getMinutes());
		return (hh.length < 2 ? '0' : '') + hh + ':' + (mm.length < 2 ? '0' : '') + mm;
	}

	/* a message's words as formatted nodes (format.js builds them, never
	 * from HTML); null: the deleted placeholder */
	function textBlock(words) {
		var el = document.createElement('div');
		el.className = 'ct-text';
		el.setAttribute('dir', 'auto');
		if (words === null)
			el.textContent = tr('This message was deleted.');
		else
			el.appendChild(window.crosstalkFormat.render(words, document));
		return el;
	}

	function renderMsg(c, m) {
		var li = c.els[m.id];
		if (!li) {
			li = c.els[m.id] = document.createElement('li');
			li.className = 'ct-msg';
			li.setAttribute('data-id', m.id);
		}
		li.setAttribute('data-pos', String(m.pos));
		li.setAttribute('data-seq', String(m.stateSeq));
		var mine = !!(me && m.user && m.user.id === me.id);
		li.classList.toggle('ct-mine', mine);
		li.classList.toggle('ct-mentioned', !!(me && !m.deleted && m.mentions && m.mentions.indexOf(me.id) >= 0));
		li.classList.toggle('ct-bot', m.bot);
		li.classList.toggle('ct-deleted', m.deleted);
		while (li.firstChild)
			li.removeChild(li.firstChild);

		var meta = document.createElement('div');
		meta.className = 'ct-meta';
		meta.appendChild(avatar(m.user));
		var who = document.createElement('span');
		who.className = 'ct-author';
		who.textContent = (m.user && (m.user.name || m.user.id)) || '?';
		if (m.user && m.user.id && m.user.id.indexOf('/') > 0)
			who.textContent += ' (' + m.user.id.split('/')[0] + ')'; /* an app's own id */
		meta.appendChild(who);
		if (m.bot) {
			var bot = document.createElement('span');
			bot.className = 'ct-bot-tag';
			bot.textContent = tr('bot');
			meta.appendChild(bot);
		}
		if (m.app) {
			var app = document.createElement('span');
			app.className = 'ct-app';
			app.textContent = m.app;
			meta.appendChild(app);
		}
		var time = document.createElement('time');
		time.className = 'ct-time';
		if (m.created) {
			time.dateTime = new Date(m.created).toISOString();
			time.textContent = timeText(m.created);
		}
		meta.appendChild(time);
		if (m.edited && !m.deleted) {
			var ed = document.createElement('span');
			ed.className = 'ct-edited';
			ed.textContent = tr('(edited)');
			meta.appendChild(ed);
		}
		li.appendChild(meta);

		if (m.replyTo && !m.deleted)
			li.appendChild(quoteBlock(c, m.replyTo));
		var withFiles = !m.deleted && m.files.length > 0;
		if (!withFiles || m.text)
			li.appendChild(textBlock(m.deleted ? null : m.text));
		if (withFiles)
			li.appendChild(filesBlock(m));
		if (!m.deleted && m.reactions.length)
			li.appendChild(reactionsBlock(m));

		if (!m.deleted && me) {
			var actions = document.createElement('div');
			actions.className = 'ct-actions';
			actions.appendChild(actionButton(tr('Reply'), tr('Reply to {name}', { name: who.textContent }), function () {
				startReply(c, m);
			}));
			actions.appendChild(actionButton(tr('React'), tr('React to this message'), function () {
				togglePicker(li, m);
			}));
			li.appendChild(actions);
		}
		if (mine && !m.deleted) {
			actions.appendChild(actionButton(tr('Edit'), tr('Edit your message'), function () {
				startEdit(c, m);
			}));
			var del = actionButton(tr('Delete'), tr('Delete your message'), function () {
				if (del.getAttribute('data-confirm') === '1') {
					conn.remove(m.id).then(null, function (err) {
						post('error', { code: err.code, message: err.message });
					});
					return;
				}
				del.setAttribute('data-confirm', '1');
				del.textContent = tr('Really delete?');
				setTimeout(function () {
					del.removeAttribute('data-confirm');
					del.textContent = tr('Delete');
				}, 4000);
			});
			actions.appendChild(del);
		}
		return li;
	}

	/* initials in a circle coloured by the user id (the same everywhere) */
	function avatar(u) {
		var a = document.createElement('span');
		a.className = 'ct-avatar';
		a.setAttribute('aria-hidden', 'true');
		var name = (u && (u.name || u.id)) || '?';
		var words = name.trim().split(/\s+/);
		a.textContent = (words[0].charAt(0) + (words.length > 1 ? words[words.length - 1].charAt(0) : '')).toUpperCase();
		var h = 0, id = (u && u.id) || name;
		for (var i = 0; i < id.length; i++)
			h = (h * 31 + id.charCodeAt(i)) % 360;
		a.style.backgroundColor = 'hsl(' + h + ', 45%, 42%)';
		return a;
	}

	/* the message a reply answers, quoted (text only: never markup) */
	function quoteBlock(c, q) {
		var bq = document.createElement('blockquote');
		bq.className = 'ct-quote';
		var who = document.createElement('span');
		who.className = 'ct-quote-author';
		who.textContent = q.user ? (q.user.name || q.user.id) : '';
		bq.appendChild(who);
		var t = document.createElement('span');
		t.className = 'ct-quote-text';
		t.textContent = q.gone ? tr('an earlier message') : q.deleted ? tr('This message was deleted.') : (q.text || '');
		bq.appendChild(t);
		return bq;
	}

	var PICKS = ['👍', '❤️', '😂', '🎉', '😮', '😢'];

	/* reactions as chips: the emoji, how many; pressing one toggles mine */
	function reactionsBlock(m) {
		var box = document.createElement('div');
		box.className = 'ct-reactions';
		m.reactions.forEach(function (r) {
			var users = r.users || [];
			var on = !!(me && users.indexOf(me.id) >= 0);
			var b = document.createElement('button');
			b.type = 'button';
			b.className = 'ct-reaction';
			b.setAttribute('aria-pressed', on ? 'true' : 'false');
			b.setAttribute('aria-label', tr(on ? '{emoji} {n}, yours: press to take back' : '{emoji} {n}', { emoji: r.emoji, n: users.length }));
			b.textContent = r.emoji + ' ' + users.length;
			b.addEventListener('click', function () {
				toggleReaction(m, r.emoji, !on);
			});
			box.appendChild(b);
		});
		return box;
	}

	function toggleReaction(m, emoji, on) {
		(on ? conn.react(m.id, emoji) : conn.unreact(m.id, emoji)).then(null, function (err) {
			post('error', { code: err.code, message: err.message });
		});
	}

	function togglePicker(li, m) {
		var old = li.querySelector('.ct-picker');
		if (old) {
			li.removeChild(old);
			return;
		}
		var box = document.createElement('div');
		box.className = 'ct-picker';
		box.setAttribute('role', 'group');
		box.setAttribute('aria-label', tr('Reactions'));
		PICKS.forEach(function (e) {
			var b = document.createElement('button');
			b.type = 'button';
			b.textContent = e;
			b.setAttribute('aria-label', tr('React with {emoji}', { emoji: e }));
			b.addEventListener('click', function () {
				li.removeChild(box);
				toggleReaction(m, e, true);
			});
			box.appendChild(b);
		});
		li.appendChild(box);
	}

	/* replying: the composer says to whom, Escape or the button cancels */
	var replying = null; /* {channel, id, name} */
	function startReply(c, m) {
		replying = { channel: c.name, id: m.id, name: (m.user && m.user.name) || '' };
		renderReplying();
		ui.input.focus();
	}
	function renderReplying() {
		var bar = document.getElementById('ct-replying');
		if (!replying || replying.channel !== active) {
			if (bar)
				bar.parentNode.removeChild(bar);
			return;
		}
		if (!bar) {
			bar = document.createElement('div');
			bar.id = 'ct-replying';
			bar.className = 'ct-replying';
			ui.composer.parentNode.insertBefore(bar, ui.composer);
		}
		while (bar.firstChild)
			bar.removeChild(bar.firstChild);
		var t = document.createElement('span');
		t.textContent = tr('Replying to {name}', { name: replying.name });
		bar.appendChild(t);
		bar.appendChild(actionButton(tr('Cancel'), tr('Cancel the reply'), function () {
			replying = null;
			renderReplying();
		}));
	}

	function actionButton(text, aria, fn) {
		var b = document.createElement('button');
		b.type = 'button';
		b.className = 'ct-act';
		b.textContent = text;
		b.setAttribute('aria-label', aria);
		b.addEventListener('click', fn);
		return b;
	}

	function startEdit(c, m) {
		var li = c.els[m.id];
		if (!li || li.querySelector('.ct-edit'))
			return;
		var p = li.querySelector('.ct-text');
		var form = document.createElement('form');
		form.className = 'ct-edit';
		var lab = document.createElement('label');
		lab.className = 'ct-sr';
		lab.textContent = tr('Edit message');
		var ta = document.createElement('textarea');
		ta.value = m.text;
		ta.rows = 2;
		ta.maxLength = 4000;
		var id = 'ct-edit-' + m.id;
		ta.id = id;
		lab.htmlFor = id;
		var save = document.createElement('button');
		save.type = 'submit';
		save.textContent = tr('Save');
		var cancel = document.createElement('button');
		cancel.type = 'button';
		cancel.textContent = tr('Cancel');
		form.appendChild(lab);
		form.appendChild(ta);
		form.appendChild(save);
		form.appendChild(cancel);
		p.replaceWith(form);
		var done = function () {
			renderMsg(c, m);
			ui.input.focus();
		};
		cancel.addEventListener('click', done);
		ta.addEventListener('keydown', function (e) {
			if (e.key === 'Escape') {
				e.preventDefault();
				done();
			} else if (e.key === 'Enter' && !e.shiftKey) {
				e.preventDefault();
				form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event('submit'));
			}
		});
		form.addEventListener('submit', function (e) {
			e.preventDefault();
			var t = ta.value;
			if (!t.trim() || t === m.text) {
				done();
				return;
			}
			conn.edit(m.id, t).then(done, function (err) {
				post('error', { code: err.code, message: err.message });
				done();
			});
		});
		ta.focus();
	}

	function updateOlder() {
		var c = channels[active];
		var show = !!(c && c.loaded && c.hasOlder && c.oldest !== null && c.oldest > 1);
		ui.older.hidden = !show;
	}

	ui.older.addEventListener('click', function () {
		var c = channels[active];
		if (!c || c.oldest === null)
			return;
		ui.older.disabled = true;
		var list = ui.messages;
		var fromEnd = list.scrollHeight - list.scrollTop;
		conn.history(c.name, c.oldest, 50).then(function (r) {
			(r.events || []).forEach(function (ev) {
				var m = apply(c, ev);
				if (m)
					placeMsg(c, m);
			});
			c.hasOlder = !!r.has_more && (r.events || []).length > 0;
			list.scrollTop = list.scrollHeight - fromEnd;
		}, function (err) {
			post('error', { code: err.code, message: err.message });
		}).then(function () {
			ui.older.disabled = false;
			updateOlder();
		});
	});

	/* ---- composer ---------------------------------------------------- */

	function send() {
		var text = ui.input.value;
		if (!active)
			return;
		var c = channels[active];
		var items = c.attach;
		if (items.some(function (it) { return it.state === 'uploading'; })) {
			/* the message goes once its files are up; the text stays meanwhile */
			c.sendWhenReady = true;
			renderFiles();
			return;
		}
		c.sendWhenReady = false;
		var ready = items.filter(function (it) { return it.state === 'done'; });
		if (!text.trim() && !ready.length)
			return;
		var cid = ct.randomId('w-');
		var li = document.createElement('li');
		li.className = 'ct-msg ct-mine ct-pending';
		var meta = document.createElement('div');
		meta.className = 'ct-meta';
		var who = document.createElement('span');
		who.className = 'ct-author';
		who.textContent = (me && me.name) || tr('me');
		var st = document.createElement('span');
		st.className = 'ct-status';
		st.textContent = tr('sending…');
		meta.appendChild(who);
		meta.appendChild(st);
		li.appendChild(meta);
		if (text.trim() || !ready.length)
			li.appendChild(textBlock(text));
		if (ready.length) {
			var names = document.createElement('div');
			names.className = 'ct-attachments';
			ready.forEach(function (it) {
				var n = document.createElement('span');
				n.className = 'ct-file-link';
				n.textContent = it.name;
				names.appendChild(n);
			});
			li.appendChild(names);
		}
		c.pending[cid] = li;
		ui.messages.appendChild(li);
		scrollToEnd();
		ui.input.value = '';
		c.attach = items.filter(function (it) { return it.state !== 'done'; });
		renderFiles();
		if (!c.subscribed && me)
			subscribe(c);
		var replyTo = replying && replying.channel === c.name ? replying.id : null;
		replying = null;
		renderReplying();
		var files = ready.map(function (it) { return String(it.attachment.id); });
		conn.publish(c.name, text, cid, { replyTo: replyTo, files: files }).then(function () {
			/* the message event replaces the echo */
		}, function (err) {
			st.textContent = tr('not sent: {why}', { why: err.message || err.code });
			li.classList.add('ct-failed');
			delete c.pending[cid];
			/* the files were not used: back above the composer */
			if (err.code !== 'invalid') {
				c.attach = ready.concat(c.attach);
				renderFiles();
			}
			post('error', { code: err.code, message: err.message });
		});
	}

	/* ---- attachments: the paperclip, paste, drop; chips above the
	 * composer; previews and links in messages ----------------------- */

	var MAX_FILES = 10; /* attachments one message may carry */
	var IMAGE_TYPES = { 'image/png': true, 'image/jpeg': true, 'image/gif': true, 'image/webp': true };
	var RETRYABLE = { network: true, unavailable: true, timeout: true, rate_limited: true, unauthorized: true };
	var fileSeq = 0;

	function humanSize(n) {
		n = Number(n) || 0;
		if (n < 1024)
			return tr('{n} bytes', { n: n });
		if (n < 1048576)
			return tr('{n} KB', { n: Math.max(1, Math.round(n / 1024)) });
		return tr('{n} MB', { n: (n / 1048576).toFixed(n < 10485760 ? 1 : 0) });
	}

	function uploadErrorText(err) {
		switch (err && err.code) {
		case 'too_large':
			return err.maxSize ? tr('Too large: at most {size}', { size: humanSize(err.maxSize) }) :
				tr('Too large to send');
		case 'unsupported_media_type':
		case 'unsupported_type':
			return tr('This type of file cannot be sent');
		case 'network':
		case 'unavailable':
		case 'timeout':
			return tr('Not uploaded: no connection to the server');
		case 'rate_limited':
			return tr('Too many uploads: try again in a moment');
		case 'forbidden':
			return tr('You may not send files here');
		default:
			return tr('Not uploaded: {why}', { why: (err && (err.message || err.code)) || '?' });
		}
	}

	function note(text) {
		ui.fileNote.textContent = text || '';
		ui.fileNote.hidden = !text;
	}

	/* files picked, pasted or dropped: each uploads at once */
	function addFiles(list) {
		var c = active && channels[active];
		var files = Array.prototype.slice.call(list || []);
		if (!c || !files.length || c.archived)
			return;
		var room = MAX_FILES - c.attach.filter(function (it) { return it.state !== 'error'; }).length;
		note(files.length > room ? tr('Up to {n} files go with one message.', { n: MAX_FILES }) : '');
		files.slice(0, Math.max(0, room)).forEach(function (f) {
			var it = { key: ++fileSeq, file: f, name: f.name || tr('pasted file'), size: f.size,
				   state: 'uploading', loaded: 0 };
			c.attach.push(it);
			upload(c, it);
		});
		renderFiles();
	}

	function upload(c, it) {
		it.state = 'uploading';
		it.loaded = 0;
		it.error = null;
		it.ctl = typeof AbortController === 'function' ? new AbortController() : null;
		conn.upload(c.name, it.file, {
			name: it.name,
			signal: it.ctl ? it.ctl.signal : undefined,
			onProgress: function (p) {
				it.loaded = p.loaded;
				it.total = p.total;
				if (it.bar) {
					it.bar.max = p.total || it.size || 1;
					it.bar.value = Math.min(p.loaded, it.bar.max);
				}
			}
		}).then(function (a) {
			it.state = 'done';
			it.attachment = a;
			it.ctl = null;
			uploaded(c);
		}, function (err) {
			it.ctl = null;
			if (err && err.code === 'aborted')
				return;
			it.state = 'error';
			it.error = err;
			post('error', { code: (err && err.code) || 'error', message: (err && err.message) || '',
					channel: c.name });
			uploaded(c);
		});
	}

	/* one upload ended: send the message that waited for it */
	function uploaded(c) {
		if (c.name === active)
			renderFiles();
		if (c.sendWhenReady && c.name === active &&
		    !c.attach.some(function (it) { return it.state === 'uploading'; }))
			send();
	}

	function removeFile(c, it) {
		if (it.ctl)
			it.ctl.abort();
		c.attach = c.attach.filter(function (x) { return x !== it; });
		if (!c.attach.length)
			note('');
		renderFiles();
		if (c.sendWhenReady && !c.attach.some(function (x) { return x.state === 'uploading'; }))
			send();
		ui.input.focus();
	}

	/* the open channel's files waiting for Send, as chips */
	function renderFiles() {
		var c = active && channels[active];
		var list = ui.files;
		while (list.firstChild)
			list.removeChild(list.firstChild);
		var items = c ? c.attach : [];
		items.forEach(function (it) {
			var li = document.createElement('li');
			li.className = 'ct-file-chip';
			li.setAttribute('data-state', it.state);
			var name = document.createElement('span');
			name.className = 'ct-file-name';
			name.textContent = it.name;
			name.title = it.name;
			li.appendChild(name);
			var st = document.createElement('span');
			st.className = 'ct-file-status';
			it.bar = null;
			if (it.state === 'uploading') {
				var bar = document.createElement('progress');
				bar.max = it.total || it.size || 1;
				bar.value = Math.min(it.loaded || 0, bar.max);
				bar.setAttribute('aria-label', tr('Uploading {name}', { name: it.name }));
				st.appendChild(bar);
				it.bar = bar;
			} else if (it.state === 'done') {
				st.textContent = humanSize(it.size);
			} else {
				st.className += ' ct-file-error';
				st.textContent = uploadErrorText(it.error);
			}
			li.appendChild(st);
			if (it.state === 'error' && it.error && RETRYABLE[it.error.code])
				li.appendChild(actionButton(tr('Retry'), tr('Upload {name} again', { name: it.name }), function () {
					upload(c, it);
					renderFiles();
				}));
			var x = document.createElement('button');
			x.type = 'button';
			x.className = 'ct-file-remove';
			x.textContent = '×';
			x.setAttribute('aria-label', tr('Remove {name}', { name: it.name }));
			x.addEventListener('click', function () {
				removeFile(c, it);
			});
			li.appendChild(x);
			list.appendChild(li);
		});
		if (c && c.sendWhenReady) {
			var w = document.createElement('li');
			w.className = 'ct-file-wait';
			w.textContent = tr('Sending once the files are uploaded…');
			list.appendChild(w);
		}
		list.hidden = !list.firstChild;
		queueResize();
	}

	ui.attach.title = tr('Attach files');
	ui.attach.addEventListener('click', function () {
		ui.fileInput.click();
	});
	ui.fileInput.addEventListener('change', function () {
		addFiles(ui.fileInput.files);
		ui.fileInput.value = ''; /* the same file again is a change too */
	});

	function filesOf(dt) {
		if (!dt)
			return [];
		if (dt.files && dt.files.length)
			return Array.prototype.slice.call(dt.files);
		var out = [];
		Array.prototype.forEach.call(dt.items || [], function (item) {
			var f = item.kind === 'file' && item.getAsFile();
			if (f)
				out.push(f);
		});
		return out;
	}

	/* an image or a file pasted into the composer */
	ui.input.addEventListener('paste', function (e) {
		var files = filesOf(e.clipboardData);
		if (!files.length)
			return;
		e.preventDefault();
		addFiles(files);
	});

	/* files dropped anywhere on the widget */
	var dropTimer = null;
	function dragsFiles(e) {
		var types = e.dataTransfer && e.dataTransfer.types;
		return !!types && Array.prototype.indexOf.call(types, 'Files') >= 0;
	}
	function showDrop(on) {
		clearTimeout(dropTimer);
		ui.drop.hidden = !on;
		if (on) /* dragleave is unreliable over children: hide unless renewed */
			dropTimer = setTimeout(function () {
				ui.drop.hidden = true;
			}, 400);
	}
	['dragenter', 'dragover'].forEach(function (type) {
		document.addEventListener(type, function (e) {
			if (!dragsFiles(e))
				return;
			e.preventDefault(); /* never let the browser open the file */
			var c = active && channels[active];
			var ok = !!(c && me && !c.archived);
			e.dataTransfer.dropEffect = ok ? 'copy' : 'none';
			showDrop(ok);
		});
	});
	document.addEventListener('drop', function (e) {
		if (!dragsFiles(e))
			return;
		e.preventDefault();
		showDrop(false);
		if (me)
			addFiles(filesOf(e.dataTransfer));
	});

	/* --- in messages: an image as a preview, any other file as a link;
	 * the signed links come from the daemon ("files"), short-lived --- */
	var links = {}; /* attachment id -> {url, expires_at_ms} */
	var linksQueued = false;

	function filesBlock(m) {
		var key = JSON.stringify(m.files);
		if (m.filesEl && m.filesKey === key)
			return m.filesEl; /* keep the loaded images */
		var box = document.createElement('div');
		box.className = 'ct-attachments';
		m.files.forEach(function (f) {
			box.appendChild(fileItem(f));
		});
		m.filesEl = box;
		m.filesKey = key;
		return box;
	}

	function fileItem(f) {
		var id = String(f.id), name = String(f.name || id);
		var a = document.createElement('a');
		a.setAttribute('data-file-id', id);
		a.target = '_blank';
		a.rel = 'noopener noreferrer';
		if (IMAGE_TYPES[f.type]) {
			a.className = 'ct-file-image';
			a.title = name + ' · ' + humanSize(f.size);
			var img = document.createElement('img');
			img.alt = name;
			img.loading = 'lazy';
			img.decoding = 'async';
			img.addEventListener('load', function () {
				img.setAttribute('data-loaded', '1');
				var l = ui.messages;
				if (l.scrollHeight - l.scrollTop - l.clientHeight - img.offsetHeight < 80)
					scrollToEnd();
				queueResize();
			});
			img.addEventListener('error', function () {
				if (!img.getAttribute('src'))
					return;
				if (img.getAttribute('data-retried')) {
					a.classList.add('ct-file-broken');
					return;
				}
				/* the link ran out, or the image failed: a fresh link, once */
				img.setAttribute('data-retried', '1');
				conn.fileUrls([id], { fresh: true }).then(function (u) {
					if (u[id]) {
						links[id] = u[id];
						setLink(a, u[id]);
						img.src = u[id].url;
					} else {
						a.classList.add('ct-file-broken');
					}
				}, function () {
					a.classList.add('ct-file-broken');
				});
			});
			a.appendChild(img);
			var cap = document.createElement('span');
			cap.className = 'ct-file-caption';
			cap.textContent = name;
			a.appendChild(cap);
		} else {
			a.className = 'ct-file-link';
			a.setAttribute('aria-label', tr('Download {name} ({size})', { name: name, size: humanSize(f.size) }));
			var n = document.createElement('span');
			n.className = 'ct-file-name';
			n.textContent = name;
			a.appendChild(n);
			var size = document.createElement('span');
			size.className = 'ct-file-size';
			size.textContent = ' · ' + humanSize(f.size);
			a.appendChild(size);
		}
		/* a link that ran out while the page sat open: a fresh one first */
		a.addEventListener('click', function (e) {
			var u = links[id];
			if (u && u.expires_at_ms - Date.now() > 5000)
				return;
			e.preventDefault();
			var win = window.open('', '_blank');
			conn.fileUrls([id], { fresh: true }).then(function (r) {
				if (!r[id]) {
					if (win)
						win.close();
					return;
				}
				links[id] = r[id];
				setLink(a, r[id]);
				if (win) {
					win.opener = null;
					win.location.href = r[id].url;
				}
			}, function () {
				if (win)
					win.close();
			});
		});
		if (links[id])
			setLink(a, links[id]);
		return a;
	}

	function setLink(a, u) {
		a.href = u.url;
		var img = a.querySelector('img');
		if (img && !img.getAttribute('data-loaded') && img.getAttribute('src') !== u.url)
			img.src = u.url;
	}

	function queueLinks() {
		if (linksQueued)
			return;
		linksQueued = true;
		setTimeout(function () {
			linksQueued = false;
			refreshLinks();
		}, 0);
	}

	/* links for the files the open channel shows: those without one, and
	 * those about to run out (asked together, a few "files" frames) */
	function refreshLinks() {
		if (!me || !conn.isOpen())
			return;
		var els = ui.messages.querySelectorAll('[data-file-id]'), want = {}, now = Date.now();
		Array.prototype.forEach.call(els, function (a) {
			var id = a.getAttribute('data-file-id'), u = links[id];
			if (u && u.expires_at_ms - now > 60000) {
				if (!a.getAttribute('href'))
					setLink(a, u);
				return;
			}
			want[id] = true;
		});
		var ids = Object.keys(want);
		if (!ids.length)
			return;
		conn.fileUrls(ids).then(function (got) {
			Object.keys(got).forEach(function (id) {
				links[id] = got[id];
			});
			Array.prototype.forEach.call(ui.messages.querySelectorAll('[data-file-id]'), function (a) {
				var u = got[a.getAttribute('data-file-id')];
				if (u)
					setLink(a, u);
			});
		}, function () { /* asked again at the next turn */ });
	}
	setInterval(refreshLinks, 20000);
	conn.on('welcome', queueLinks);

	/* ---- @ completion: the directory's people, inserted by name ------ */

	var sug = { items: [], at: -1, start: -1, asked: 0, timer: null };
	function closeSuggest() {
		ui.suggest.hidden = true;
		sug.items = [];
		sug.at = -1;
	}
	function renderSuggest() {
		while (ui.suggest.firstChild)
			ui.suggest.removeChild(ui.suggest.firstChild);
		sug.items.forEach(function (u, i) {
			var li = document.createElement('li');
			li.setAttribute('role', 'option');
			li.setAttribute('aria-selected', i === sug.at ? 'true' : 'false');
			li.textContent = u.name + (u.app ? ' (' + u.app + ')' : '');
			li.addEventListener('mousedown', function (e) {
				e.preventDefault(); /* keep the composer's focus */
				pickSuggest(i);
			});
			ui.suggest.appendChild(li);
		});
		ui.suggest.hidden = !sug.items.length;
	}
	function pickSuggest(i) {
		var u = sug.items[i];
		if (!u)
			return;
		var v = ui.input.value, caret = ui.input.selectionStart;
		var text = '@' + u.name + ' ';
		ui.input.value = v.slice(0, sug.start) + text + v.slice(caret);
		ui.input.selectionStart = ui.input.selectionEnd = sug.start + text.length;
		closeSuggest();
	}
	function lookSuggest() {
		var v = ui.input.value.slice(0, ui.input.selectionStart);
		var m = /(^|[\s(\[{<"',;:])@([^\s@]{1,30})$/.exec(v);
		if (!m || !me || !conn.isOpen()) {
			closeSuggest();
			return;
		}
		sug.start = v.length - m[2].length - 1;
		var asked = ++sug.asked;
		conn.users(m[2], { limit: 6 }).then(function (r) {
			if (asked !== sug.asked)
				return;
			sug.items = (r.users || []).filter(function (u) { return u.id !== me.id; });
			sug.at = sug.items.length ? 0 : -1;
			renderSuggest();
		}, closeSuggest);
	}
	ui.input.addEventListener('input', function () {
		clearTimeout(sug.timer);
		sug.timer = setTimeout(lookSuggest, 150);
	});
	ui.input.addEventListener('blur', function () {
		setTimeout(closeSuggest, 100);
	});
	/* before the composer's own keys: while suggestions show, the arrows,
	 * Enter and Tab are theirs */
	ui.input.addEventListener('keydown', function (e) {
		if (ui.suggest.hidden || !sug.items.length)
			return;
		if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
			sug.at = (sug.at + (e.key === 'ArrowDown' ? 1 : sug.items.length - 1)) % sug.items.length;
			renderSuggest();
		} else if (e.key === 'Enter' || e.key === 'Tab') {
			pickSuggest(sug.at);
		} else if (e.key === 'Escape') {
			closeSuggest();
		} else {
			return;
		}
		e.preventDefault();
		e.stopImmediatePropagation();
	});

	/* system notifications of mentions: asked for only when the user
	 * presses the button */
	function renderNotify() {
		ui.notify.hidden = !(window.Notification && Notification.permission === 'default');
	}
	ui.notify.addEventListener('click', function () {
		var p = Notification.requestPermission(renderNotify);
		if (p && p.then)
			p.then(renderNotify, renderNotify);
	});
	renderNotify();

	ui.composer.addEventListener('submit', function (e) {
		e.preventDefault();
		send();
	});
	ui.input.addEventListener('keydown', function (e) {
		if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
			e.preventDefault();
			send();
		} else if (e.key === 'ArrowUp' && !ui.input.value) {
			var c = channels[active];
			if (!c || !me)
				return;
			var ids = sortedIds(c).reverse();
			for (var i = 0; i < ids.length; i++) {
				var m = c.msgs[ids[i]];
				if (m.user && m.user.id === me.id && !m.deleted) {
					e.preventDefault();
					startEdit(c, m);
					return;
				}
			}
		}
	});
	ui.input.addEventListener('input', function () {
		var now = Date.now();
		if (active && ui.input.value && now - lastTypingSent > 2500) {
			lastTypingSent = now;
			conn.typing(active);
		}
	});

	/* ---- typing, presence, read markers ----------------------------- */

	function renderTyping() {
		var c = channels[active];
		var now = Date.now(), names = [];
		if (c)
			Object.keys(c.typing).forEach(function (k) {
				if (c.typing[k].until > now)
					names.push(c.typing[k].name);
				else
					delete c.typing[k];
			});
		var t = '';
		if (names.length === 1)
			t = tr('{name} is typing…', { name: names[0] });
		else if (names.length === 2)
			t = tr('{name} and {other} are typing…', { name: names[0], other: names[1] });
		else if (names.length > 2)
			t = tr('Several people are typing…');
		ui.typing.textContent = t;
	}
	setInterval(renderTyping, 1000);

	/* one person of a list: name, app, (directory: online dot and title),
	 * and a button for a direct conversation */
	function personItem(u, directory) {
		var li = document.createElement('li');
		li.className = 'ct-person';
		if (directory) {
			var dot = document.createElement('span');
			dot.className = u.online ? 'ct-dot ct-online' : 'ct-dot';
			dot.title = u.online ? tr('online') : tr('offline');
			li.appendChild(dot);
		}
		var name = document.createElement('span');
		name.className = 'ct-person-name';
		name.textContent = u.name;
		if (directory)
			name.setAttribute('aria-label', tr(u.online ? '{name}, online' : '{name}, offline', { name: u.name }));
		li.appendChild(name);
		if (u.app) {
			var app = document.createElement('span');
			app.className = 'ct-app';
			app.textContent = u.app;
			li.appendChild(app);
		}
		if (directory && u.title) {
			var t = document.createElement('span');
			t.className = 'ct-person-title';
			t.textContent = u.title;
			li.appendChild(t);
		}
		if (directory && me && u.id !== me.id) {
			var pick = document.createElement('input');
			pick.type = 'checkbox';
			pick.className = 'ct-pick';
			pick.checked = !!picked[u.id];
			pick.setAttribute('aria-label', tr('Add {name} to a new group', { name: u.name }));
			pick.addEventListener('change', function () {
				if (pick.checked)
					picked[u.id] = u.name;
				else
					delete picked[u.id];
				renderGroupStart();
			});
			li.insertBefore(pick, li.firstChild);
		}
		var here = channels[active];
		if (directory && me && u.id !== me.id && here && here.private) {
			li.appendChild(actionButton(tr('Add'), tr('Add {name} to this channel', { name: u.name }), function () {
				conn.addMembers(here.name, [u.id]).then(null, function (err) {
					post('error', { code: err.code, message: err.message, channel: here.name });
				});
			}));
		}
		if (me && u.id !== me.id) {
			var b = actionButton(tr('Message'), tr('Direct message to {name}', { name: u.name }), function () {
				/* the panel covers the messages when narrow: close it */
				if (getComputedStyle(ui.people).position === 'absolute')
					setPeople(false);
				dmNames[u.id] = u.name;
				openChannel(ct.dmChannel(me.id, u.id));
				ui.input.focus();
			});
			li.appendChild(b);
		} else if (me) {
			var you = document.createElement('span');
			you.className = 'ct-you';
			you.textContent = tr('(you)');
			li.appendChild(you);
		}
		return li;
	}

	/* a group: the people ticked in the directory (2 or more) */
	var picked = {}; /* user id -> name */
	function renderGroupStart() {
		var n = Object.keys(picked).length;
		ui.groupStart.hidden = n < 2;
		ui.groupStart.textContent = tr('Start a group ({n} people)', { n: n + 1 });
	}
	ui.groupStart.addEventListener('click', function () {
		var ids = Object.keys(picked);
		var names = ids.map(function (id) { return picked[id]; });
		var title = ((me && me.name) ? [me.name] : []).concat(names).join(', ').slice(0, 200);
		ui.groupStart.disabled = true;
		conn.group(ids, { title: title }).then(function (r) {
			ui.groupStart.disabled = false;
			picked = {};
			renderGroupStart();
			loadDirectory(false);
			if (getComputedStyle(ui.people).position === 'absolute')
				setPeople(false);
			ensureChannel(r.channel.name, r.channel.title).private = true;
			openChannel(r.channel.name, r.channel.title);
			ui.input.focus();
		}, function (err) {
			ui.groupStart.disabled = false;
			post('error', { code: err.code, message: err.message });
		});
	});

	/* the directory: everyone the hub has seen, online or not */
	var dir = { next: null, asked: 0, timer: null };
	function loadDirectory(more) {
		if (!me || !conn.isOpen())
			return;
		var asked = ++dir.asked;
		conn.users(ui.dirInput.value.trim(), { cursor: more ? dir.next : null, limit: 20 })
			.then(function (r) {
				if (asked !== dir.asked)
					return; /* a newer question was asked */
				if (!more) {
					while (ui.dirList.firstChild)
						ui.dirList.removeChild(ui.dirList.firstChild);
				}
				(r.users || []).forEach(function (u) {
					ui.dirList.appendChild(personItem(u, true));
				});
				dir.next = r.next || null;
				ui.dirMore.hidden = !dir.next;
			}, function () {});
	}
	ui.dirInput.addEventListener('input', function () {
		clearTimeout(dir.timer);
		dir.timer = setTimeout(function () {
			loadDirectory(false);
		}, 200);
	});
	ui.dirForm.addEventListener('submit', function (e) {
		e.preventDefault();
		loadDirectory(false);
	});
	ui.dirMore.addEventListener('click', function () {
		loadDirectory(true);
	});

	/* leaving a private channel (its owner may still add you back) */
	ui.leave.addEventListener('click', function () {
		var c = channels[active];
		if (!c || !c.private || !me)
			return;
		conn.removeMembers(c.name, [me.id]).then(function () {
			dropChannel(c.name);
		}, function (err) {
			post('error', { code: err.code, message: err.message, channel: c.name });
		});
	});

	function renderPeople() {
		var c = channels[active];
		ui.leave.hidden = !(c && c.private);
		var list = ui.peopleList;
		while (list.firstChild)
			list.removeChild(list.firstChild);
		var people = c ? Object.keys(c.presence).map(function (k) {
			return c.presence[k];
		}) : [];
		people.sort(function (a, b) {
			return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
		});
		ui.peopleCount.textContent = people.length ? String(people.length) : '';
		people.forEach(function (u) {
			list.appendChild(personItem(u, false));
		});
		post('presence', {
			channel: active,
			users: people.map(function (u) {
				return { id: u.id, name: u.name, app: u.app };
			})
		});
	}

	function setPeople(open) {
		ui.people.hidden = !open;
		if (open)
			loadDirectory(false);
		ui.peopleToggle.setAttribute('aria-expanded', open ? 'true' : 'false');
		queueResize();
	}
	ui.peopleToggle.addEventListener('click', function () {
		setPeople(ui.people.hidden);
	});
	ui.people.addEventListener('keydown', function (e) {
		if (e.key === 'Escape') {
			setPeople(false);
			ui.peopleToggle.focus();
		}
	});

	/* --- search: every channel the user may read (the "search" request);
	 * hits are marked with <mark> around text nodes, never HTML --- */
	var searching = { q: '', next: null, seq: 0 };

	function setSearch(open) {
		ui.search.hidden = !open;
		ui.searchToggle.setAttribute('aria-expanded', open ? 'true' : 'false');
		ui.app.classList.toggle('ct-searching', open);
		if (open)
			ui.searchInput.focus();
	}

	function resultItem(x) {
		var m = x.message || {};
		var li = document.createElement('li');
		li.className = 'ct-result';
		var b = document.createElement('button');
		b.type = 'button';
		var meta = document.createElement('span');
		meta.className = 'ct-meta';
		var where = document.createElement('span');
		where.className = 'ct-result-channel';
		where.textContent = label({ name: m.channel, title: channels[m.channel] && channels[m.channel].title });
		var who = document.createElement('span');
		who.className = 'ct-author';
		who.textContent = (m.user && (m.user.name || m.user.id)) || '?';
		if (m.user && m.user.id && m.user.id.indexOf('/') > 0)
			who.textContent += ' (' + m.user.id.split('/')[0] + ')'; /* an app's own id */
		var time = document.createElement('time');
		time.className = 'ct-time';
		if (m.created_at_ms) {
			time.dateTime = new Date(m.created_at_ms).toISOString();
			time.textContent = new Date(m.created_at_ms).toLocaleDateString() + ' ' + timeText(m.created_at_ms);
		}
		meta.appendChild(where);
		meta.appendChild(who);
		meta.appendChild(time);
		var text = document.createElement('span');
		text.className = 'ct-result-text';
		text.setAttribute('dir', 'auto');
		(x.highlight || []).forEach(function (piece) {
			var t = document.createTextNode(String(piece.text));
			if (piece.hit) {
				var mk = document.createElement('mark');
				mk.appendChild(t);
				text.appendChild(mk);
			} else {
				text.appendChild(t);
			}
		});
		b.appendChild(meta);
		b.appendChild(text);
		b.addEventListener('click', function () {
			setSearch(false);
			openChannel(m.channel);
		});
		li.appendChild(b);
		return li;
	}

	function runSearch(more) {
		var q = more ? searching.q : ui.searchInput.value.trim();
		if (!q)
			return;
		var mine = ++searching.seq;
		if (!more) {
			searching.q = q;
			searching.next = null;
			while (ui.searchResults.firstChild)
				ui.searchResults.removeChild(ui.searchResults.firstChild);
		}
		ui.searchStatus.textContent = tr('Searching…');
		ui.searchMore.hidden = true;
		conn.search(q, { cursor: more ? searching.next : null }).then(function (r) {
			if (mine !== searching.seq)
				return; /* a newer search was asked */
			(r.results || []).forEach(function (x) {
				ui.searchResults.appendChild(resultItem(x));
			});
			searching.next = r.next || null;
			ui.searchMore.hidden = !searching.next;
			var n = ui.searchResults.children.length;
			ui.searchStatus.textContent = n ? tr(n === 1 ? '{n} message found' : '{n} messages found', { n: n }) +
				(searching.next ? tr(' (more below)') : '') : tr('Nothing found for “{q}”.', { q: q });
		}, function (err) {
			if (mine !== searching.seq)
				return;
			ui.searchStatus.textContent = (err && err.message) || tr('Search failed.');
		});
	}

	ui.searchToggle.addEventListener('click', function () {
		setSearch(ui.search.hidden);
	});
	ui.searchClose.addEventListener('click', function () {
		setSearch(false);
		ui.searchToggle.focus();
	});
	ui.searchForm.addEventListener('submit', function (e) {
		e.preventDefault();
		runSearch(false);
	});
	ui.searchMore.addEventListener('click', function () {
		runSearch(true);
	});
	ui.search.addEventListener('keydown', function (e) {
		if (e.key === 'Escape') {
			setSearch(false);
			ui.searchToggle.focus();
		}
	});

	function markRead() {
		if (readTimer || !visible)
			return;
		readTimer = setTimeout(function () {
			readTimer = null;
			var c = channels[active];
			if (!c || !conn.isOpen() || !visible)
				return;
			var ch = conn.channels[c.name];
			var seq = ch ? ch.lastSeq : 0;
			if (seq > 0 && seq !== c.readSeq) {
				c.readSeq = seq;
				conn.read(c.name, seq);
			}
			if (c.unread || c.mentions) {
				c.unread = c.mentions = 0;
				renderChannels();
				postUnread();
			}
		}, 300);
	}

	document.addEventListener('visibilitychange', function () {
		visible = document.visibilityState !== 'hidden';
		if (visible)
			markRead();
	});

	var lastUnread = '';
	function postUnread() {
		var per = {}, total = 0;
		order.forEach(function (n) {
			var u = channels[n].unread || 0;
			per[n] = u;
			total += u;
		});
		var key = JSON.stringify(per);
		if (key === lastUnread)
			return;
		lastUnread = key;
		document.title = total ? tr('({n}) Chat', { n: total }) : tr('Chat');
		post('unread', { total: total, channels: per });
	}

	/* ---- connection state ------------------------------------------- */

	var countdown = null;
	function showConnState(state, detail) {
		if (countdown) {
			clearInterval(countdown);
			countdown = null;
		}
		var el = ui.conn;
		var text = '';
		if (state === 'connecting')
			text = tr('Connecting…');
		else if (state === 'auth-required')
			text = signedOut ? tr('Signed out.') : tr('Waiting for sign-in…');
		else if (state === 'closed')
			text = signedOut ? tr('Signed out.') :
				detail.code === 4003 ? tr('This page may not use the chat.') :
				detail.code === 4001 ? tr('Your login has ended. Sign in again to chat.') :
				tr('Disconnected.');
		else if (state === 'reconnecting' || state === 'unavailable') {
			/* calm, not an error: it comes back by itself */
			var until = Date.now() + (detail.retryInMs || 0);
			var first = state === 'unavailable' ? tr('Chat is unavailable right now. Retrying') :
				tr('Connection lost. Reconnecting');
			var tick = function () {
				var s = Math.max(0, Math.ceil((until - Date.now()) / 1000));
				el.textContent = s > 0 ? tr('{what} in {s} s…', { what: first, s: s }) : first + '…';
			};
			if (state === 'unavailable')
				ui.app.setAttribute('data-state', 'unavailable');
			el.className = 'ct-conn ct-conn-wait';
			el.hidden = false;
			if (detail.retryInMs) {
				tick();
				countdown = setInterval(tick, 1000);
			} else {
				el.textContent = first + '…';
			}
			return;
		}
		el.textContent = text;
		el.hidden = !text;
		el.className = 'ct-conn' + (state === 'closed' ? ' ct-conn-bad' : '');
	}

	function logout() {
		signedOut = true;
		conn.close();
		me = null;
		Object.keys(channels).forEach(function (n) {
			channels[n].attach.forEach(function (it) {
				if (it.ctl)
					it.ctl.abort();
			});
			delete channels[n];
		});
		renderFiles();
		order.length = 0;
		active = null;
		while (ui.messages.firstChild)
			ui.messages.removeChild(ui.messages.firstChild);
		renderChannels();
		renderPeople();
		showConnState('closed', {});
	}

	/* ---- layout ------------------------------------------------------- */

	function nearEnd() {
		var l = ui.messages;
		return l.scrollHeight - l.scrollTop - l.clientHeight < 60;
	}

	function scrollToEnd() {
		ui.messages.scrollTop = ui.messages.scrollHeight;
	}

	/* the height the widget would like: everything but the message list,
	 * plus the list's content, within bounds the embed may cap */
	var resizeQueued = false, lastHeight = 0;
	function queueResize() {
		if (resizeQueued || !inFrame)
			return;
		resizeQueued = true;
		requestAnimationFrame(function () {
			resizeQueued = false;
			var doc = document.documentElement;
			var fixed = doc.scrollHeight - ui.messages.clientHeight;
			var h = Math.max(320, Math.min(720, fixed + ui.messages.scrollHeight));
			if (Math.abs(h - lastHeight) > 4) {
				lastHeight = h;
				post('resize', { height: h });
			}
		});
	}

	/* ---- start ---------------------------------------------------------- */

	/* a ticket in the fragment (never the query string): use once, forget */
	var m = /(?:^#|&)ticket=([^&]+)/.exec(location.hash);
	if (m) {
		conn.setTicket(decodeURIComponent(m[1]));
		history.replaceState(null, '', location.pathname + location.search);
	}
	if (params.get('channel'))
		active = params.get('channel');
	showConnState('connecting', {});

	if (inFrame) {
		loadRegistered().then(function (list) {
			/* compare origins as the browser spells them (no default port) */
			registered = (list || []).map(function (o) {
				try {
					return new URL(String(o)).origin.toLowerCase();
				} catch (e) {
					return String(o).toLowerCase();
				}
			});
			var claimed = claimedParentOrigin();
			if (!claimed || !isRegistered(claimed)) {
				/* not framed by a registered app: talk to no one */
				showConnState('closed', { code: 4003 });
				return;
			}
			parentOrigin = claimed;
			var q = outQueue;
			outQueue = [];
			post('ready', { channel: active || '' });
			q.forEach(function (msg) {
				window.parent.postMessage(msg, parentOrigin);
			});
			conn.open();
		}, function () {
			showConnState('closed', {});
		});
	} else {
		conn.open();
	}
	if (!inFrame && !m)
		ui.conn.textContent = tr('Open this chat from your app, or add #ticket=… to the address.');
})();
