"""iis.py - conf/iis/web.config routes what the nginx and Apache fronts route.

No IIS runs here, so its rules are read and applied the way URL Rewrite
applies them (the path without its leading slash and query string, the
rules in order, the first match's action with {R:n} filled in), and every
path that must reach crosstalk is then sent where the rule points: to the
stack's nginx with the shipped API snippet (the rule's :8080) and to
crosstalk-wsd (:8888). Each must answer as it does through nginx: the API's
JSON (/api/v1 without the slash a JSON 404), the widget, its files and both
browser scripts. Paths of the app's own site must not match. Every file
crosstalk-wsd serves from web/ must be routed, so a new one cannot be
forgotten here. The error page IIS answers for the API is the API's JSON.
"""
import json
import os
import re
import urllib.parse
import xml.etree.ElementTree as ET

import ct

T = ct.T
E = ct.ENV
SRC = os.environ["CT_SRC"]
CONF = os.path.join(SRC, "conf", "iis")

# path as the browser or cfhttp asks -> which daemon must answer it
MUST = {
    "/api/v1/health": "api",
    "/api/v1/channels": "api",
    "/api/v1/messages/poll?channel=general&after=0": "api",
    "/api/v1": "api",
    "/ws": "wsd",
    "/widget?channel=general": "wsd",
    "/widget/config": "wsd",
    "/widget.js": "wsd",
    "/widget.css": "wsd",
    "/format.js": "wsd",
    "/strings.js": "wsd",
    "/crosstalk.js": "wsd",
    "/crosstalk-embed.js": "wsd",
    "/health": "wsd",
}
# the app's own site, which IIS keeps
MUST_NOT = ["/", "/index.cfm", "/api/v2/health", "/app/api/v1/health", "/api/v10",
            "/wss", "/ws/x", "/widgets", "/widget.html", "/crosstalk.json",
            "/crosstalk-embed.jsx", "/healthz", "/chat/ticket.cfm"]


def rules(root):
    out = []
    for r in root.iter("rule"):
        m, a = r.find("match"), r.find("action")
        sv = {s.get("name"): s.get("value") for s in r.iter("set")}
        out.append((r.get("name"), re.compile(m.get("url")), a.get("type"), a.get("url"),
                    a.get("appendQueryString"), sv))
    return out


def route(rs, path):
    """URL Rewrite: match the path without '/' and query; first match wins."""
    u = urllib.parse.urlsplit(path)
    p = u.path.lstrip("/")
    for name, rx, typ, url, appendq, sv in rs:
        m = rx.search(p)
        if m:
            target = re.sub(r"\{R:(\d+)\}", lambda g: m.group(int(g.group(1))) or "", url)
            if u.query and appendq == "true":
                target += "?" + u.query
            return name, target, sv
    return None, None, None


def main():
    path = os.path.join(CONF, "web.config")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        T.ok(False, "web.config is well-formed XML", e)
        return
    rs = rules(root)
    T.ok(len(rs) >= 3, "web.config has its rewrite rules", [r[0] for r in rs])
    for name, rx, typ, url, appendq, sv in rs:
        T.eq(typ, "Rewrite", "%s: a Rewrite (proxied by ARR), not a redirect" % name)
        T.ok(re.match(r"^http://crosstalk-host:(8080|8888)/", url or ""), "%s: to the crosstalk host" % name, url)
        T.eq(sv.get("HTTP_X_FORWARDED_FOR"), "{REMOTE_ADDR}",
             "%s: X-Forwarded-For replaced by the peer, never appended to" % name)
        T.eq(appendq, "true", "%s: the query string goes along" % name)

    api = urllib.parse.urlsplit(E["CROSSTALK_HTTP"])
    backends = {"8080": "%s://%s" % (api.scheme, api.netloc), "8888": E["CROSSTALK_WSD"]}
    for p, want in sorted(MUST.items()):
        name, target, _ = route(rs, p)
        if not T.ok(target, "web.config routes %s" % p):
            continue
        port = re.match(r"^http://crosstalk-host:(\d+)", target).group(1)
        T.eq({"8080": "api", "8888": "wsd"}.get(port), want, "%s goes to %s" % (p, want))
        if p == "/ws":
            T.eq(target, "http://crosstalk-host:8888/ws", "/ws to the daemon's /ws")
            continue
        real = backends[port] + target[len("http://crosstalk-host:%s" % port):]
        r = ct.http("GET", real, headers={"Authorization": "Bearer " + E["APP1_KEY"]})
        ctype = {k.lower(): v for k, v in r.headers.items()}.get("content-type", "")
        if want == "api":
            T.ok(ctype.startswith("application/json") and isinstance(r.json, dict) and "ok" in r.json,
                 "%s answers the API's JSON where the rule sends it" % p, r)
            T.eq(r.status, 404 if p == "/api/v1" else 200, "%s status" % p)
        else:
            T.eq(r.status, 200, "%s is served where the rule sends it (%s)" % (p, ctype))
            if p.endswith(".js"):
                T.ok("javascript" in ctype, "%s as JavaScript" % p, ctype)
    for p in MUST_NOT:
        T.eq(route(rs, p)[1], None, "web.config leaves %s to the app's site" % p)

    served = sorted(f for f in os.listdir(os.path.join(SRC, "web"))
                    if not f.startswith(".") and f != "widget.html")
    for f in served:
        T.ok(route(rs, "/" + f)[1], "every file crosstalk-wsd serves is routed: /" + f)

    # IIS's own errors on the API are the API's JSON
    errors = {}
    for loc in root.iter("location"):
        if loc.get("path") == "api/v1":
            for e in loc.iter("error"):
                errors[e.get("statusCode")] = e.get("path")
            T.ok(any(h.get("existingResponse") == "PassThrough" for h in loc.iter("httpErrors")),
                 "crosstalk's own error bodies pass through IIS")
            T.ok(any(m.get("fileExtension") == ".json" and m.get("mimeType") == "application/json"
                     for m in loc.iter("mimeMap")), "the error file is sent as application/json")
    T.eq(sorted(errors), ["502", "503", "504"], "IIS's 502/503/504 on the API are replaced")
    for code, f in errors.items():
        doc = json.load(open(os.path.join(CONF, f)))
        T.ok(doc.get("ok") is False and doc.get("error", {}).get("code") == "unavailable",
             "%s answers {ok:false, error:{code:unavailable}}" % code, doc)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001
        T.ok(False, "iis", repr(e))
    T.done()
