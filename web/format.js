/* format.js - message text to DOM nodes: links, code, bold, italic.
 *
 * window.crosstalkFormat.render(text, doc) returns a DocumentFragment
 * built only with createElement/createTextNode/textContent: no HTML is
 * ever parsed, so no markup in a message can make an element. What it
 * knows (the chat conventions users bring from Slack and Teams):
 *   ```code block```    <pre><code>, nothing inside is formatted
 *   `code`              <code> (one line)
 *   *bold*  _italic_    <strong> <em> (**, __ too), nested either way; a marker opens
 *                       only after a blank or punctuation and closes only
 *                       before one, so snake_case and 2*3*4 stay text
 *   http:, https:, mailto: addresses become links (target _blank,
 *                       rel noopener noreferrer); no other scheme does
 *   line breaks         kept (the container is white-space: pre-wrap)
 * Bidirectional control characters (U+202A-202E, U+2066-2069, U+200E/F)
 * are dropped from links' text and address, so an address cannot show
 * reversed ("moc.elpmaxe"), and every link and code span is isolated
 * (dir, unicode-bidi) so an override in the text around it cannot reach in.
 */
(function () {
	'use strict';

	var BIDI = /[\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
	/* an address: scheme, then anything but blanks, quotes and angle
	 * brackets; trailing punctuation is trimmed below */
	var ADDR = /^(?:https?:\/\/|mailto:)[^\s<>"'`\u0000-\u001f\u007f]+/i;
	var TRAIL = /[.,;:!?*_'")\]}]$/;
	var MAX_DEPTH = 4;

	function allowed(href) {
		var u;
		try {
			u = new URL(href);
		} catch (e) {
			return null;
		}
		if (u.protocol !== 'http:' && u.protocol !== 'https:' && u.protocol !== 'mailto:')
			return null;
		if (u.protocol !== 'mailto:' && !u.hostname)
			return null;
		return u.href;
	}

	/* the address starting at s[i], or null; trims trailing punctuation
	 * and a closing bracket that has no opening one inside */
	function addressAt(s, i) {
		if (i > 0 && /[\w\/:@.-]/.test(s[i - 1]))
			return null;
		var m = ADDR.exec(s.slice(i, i + 2048));
		if (!m)
			return null;
		var a = m[0];
		for (;;) {
			if (a.endsWith(')') && (a.split('(').length >= a.split(')').length))
				break;
			if (!TRAIL.test(a))
				break;
			a = a.slice(0, -1);
		}
		var bare = a.replace(/^(?:https?:\/\/|mailto:)/i, '');
		return bare.replace(BIDI, '').length ? a : null;
	}

	/* text -> tokens: strings of one character each (a doubled marker is
	 * one token), and objects for the pieces nothing else may look into
	 * (code, links) */
	function tokenize(s) {
		var out = [], i = 0, j, a;
		while (i < s.length) {
			if (s.startsWith('```', i) && (j = s.indexOf('```', i + 3)) > i + 3) {
				out.push({ t: 'pre', v: s.slice(i + 3, j).replace(/^\n/, '') });
				i = j + 3;
				continue;
			}
			if (s[i] === '`') {
				j = s.indexOf('`', i + 1);
				if (j > i + 1 && s.slice(i + 1, j).indexOf('\n') < 0) {
					out.push({ t: 'code', v: s.slice(i + 1, j) });
					i = j + 1;
					continue;
				}
			}
			if ((s[i] === 'h' || s[i] === 'H' || s[i] === 'm' || s[i] === 'M') &&
			    (a = addressAt(s, i))) {
				out.push({ t: 'link', v: a });
				i += a.length;
				continue;
			}
			if ((s[i] === '*' || s[i] === '_') && s[i + 1] === s[i]) {
				out.push(s[i] + s[i]); /* **bold** as well as *bold* */
				i += 2;
				continue;
			}
			out.push(s[i]);
			i++;
		}
		return out;
	}

	function blank(tok) {
		return typeof tok === 'string' && /\s/.test(tok);
	}

	function edge(tok) { /* before an opener, after a closer */
		return tok === undefined || (typeof tok === 'string' && /^[\s.,;:!?'"()[\]{}<>\/\\*_-]/.test(tok));
	}

	function closerOf(toks, from, to, mark) {
		for (var k = from; k < to; k++)
			if (toks[k] === mark && !blank(toks[k - 1]) && k > from && edge(toks[k + 1]))
				return k;
		return -1;
	}

	function isolated(doc, name, cls) {
		var el = doc.createElement(name);
		if (cls)
			el.className = cls;
		el.setAttribute('dir', 'ltr'); /* widget.css isolates these */
		return el;
	}

	function piece(doc, tok) {
		var el;
		if (tok.t === 'pre') {
			el = isolated(doc, 'pre', 'ct-fmt-pre');
			var code = doc.createElement('code');
			code.textContent = tok.v;
			el.appendChild(code);
			return el;
		}
		if (tok.t === 'code') {
			el = isolated(doc, 'code', 'ct-fmt-code');
			el.textContent = tok.v;
			return el;
		}
		var shown = tok.v.replace(BIDI, '');
		var href = allowed(shown);
		if (!href)
			return doc.createTextNode(tok.v);
		el = isolated(doc, 'a', 'ct-fmt-link');
		el.href = href;
		el.target = '_blank';
		el.rel = 'noopener noreferrer';
		el.textContent = shown;
		return el;
	}

	function build(doc, parent, toks, from, to, depth, open) {
		var text = '';
		var flush = function () {
			if (text)
				parent.appendChild(doc.createTextNode(text));
			text = '';
		};
		for (var i = from; i < to; i++) {
			var tok = toks[i];
			if (typeof tok !== 'string') {
				flush();
				parent.appendChild(piece(doc, tok));
				continue;
			}
			if (/^(\*\*?|__?)$/.test(tok) && depth < MAX_DEPTH && open.indexOf(tok[0]) < 0 &&
			    edge(toks[i - 1]) && i + 1 < to && !blank(toks[i + 1])) {
				var k = closerOf(toks, i + 1, to, tok);
				if (k > i + 1) {
					flush();
					var el = doc.createElement(tok[0] === '*' ? 'strong' : 'em');
					build(doc, el, toks, i + 1, k, depth + 1, open + tok[0]);
					parent.appendChild(el);
					i = k;
					continue;
				}
			}
			text += tok;
		}
		flush();
	}

	function render(text, doc) {
		doc = doc || document;
		var frag = doc.createDocumentFragment();
		var toks = tokenize(String(text == null ? '' : text));
		build(doc, frag, toks, 0, toks.length, 0, '');
		return frag;
	}

	window.crosstalkFormat = { render: render };
})();
