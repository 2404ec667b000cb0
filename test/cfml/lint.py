#!/usr/bin/python3
"""lint.py - the ColdFusion client without a ColdFusion engine.

1. CFLint (the jar from the npm package in test/cfml, run with the machine's
   Java) over clients/cfml with the package's .cflintrc. CFLint exits 0
   whatever it finds, so this reads its JSON report and fails on a parse
   error, on a config it could not read, on a file it did not scan, and on
   any finding at all (the rules the package does not follow are excluded,
   with reasons, in the .cflintrc and below).
   Before that, a deliberately broken file must come out as PARSE_ERROR:
   proof that a parse error would be caught.
2. What CFLint cannot know: every <cfhttp> as the contract wants it, the
   package laid out as a ColdBox module, no helper named like a built-in,
   one exception type per API error code, each recording marked @client
   sending what the client's method sends (through Hooks.cfc for the
   hooks' registration calls), a ChannelListener that checks the hub's
   signature before it reads the call and answers only what the hub reads,
   and a WebhookReceiver that checks it before it reads a delivery, with
   the one signature check both share (HookSignature.cfc).
Prints "N passed, N failed"; exits non-zero on any failure.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("CT_SRC") or os.path.abspath(os.path.join(HERE, "..", ".."))
PKG = os.path.join(SRC, "clients", "cfml")

# Findings accepted where the rule is wrong for the file: ColdBox reads a
# module's title, mapping and helpers from `this` in ModuleConfig.cfc.
ALLOW = {("ModuleConfig.cfc", "GLOBAL_VAR")}

# The contract's error codes, in the order of their statuses.
CODES = ["bad_request", "unauthorized", "forbidden", "not_found",
         "method_not_allowed", "conflict", "too_large",
         "unsupported_media_type", "invalid", "rate_limited", "unavailable"]
STATUSES = [400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 503]


class Checks:
    passed = failed = 0

    def ok(self, cond, what, detail=""):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL: %s %s" % (what, detail), flush=True)
        return cond

    def done(self):
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        sys.exit(1 if self.failed or not self.passed else 0)


T = Checks()


def find_jar():
    want = json.load(open(os.path.join(HERE, "package.json")))["devDependencies"]["cflint"]
    jars = glob.glob(os.path.join(HERE, "node_modules", "cflint", "bin",
                                  "CFLint-%s-all.jar" % want.lstrip("^~=")))
    return jars[0] if jars else None


def cflint(jar, folder):
    """Run CFLint on folder; returns (report dict or None, console text)."""
    out = tempfile.mktemp(suffix=".json", prefix="cflint-")
    try:
        # C1 only and the serial collector: the same report for a quarter
        # of the CPU (a short run spent most of it compiling and collecting
        # on every core)
        p = subprocess.run(["java", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
                            "-jar", jar, "-folder", folder, "-e", "-q",
                            "-json", "-jsonfile", out],
                           capture_output=True, text=True, timeout=300)
        console = p.stdout + p.stderr
        if not os.path.exists(out):
            return None, console
        with open(out) as f:
            return json.load(f), console
    finally:
        if os.path.exists(out):
            os.unlink(out)


def findings(report):
    for issue in report.get("issues", []):
        for loc in issue.get("locations", []):
            yield (issue.get("id"), issue.get("severity"),
                   os.path.basename(loc.get("file", "")), loc.get("line"),
                   loc.get("message", ""))


def lint():
    jar = find_jar()
    if not T.ok(jar, "CFLint jar in test/cfml/node_modules",
                "(scripts/deps.sh browser installs it)"):
        return
    if not T.ok(shutil.which("java"), "java on PATH", "(openjdk-17-jre-headless)"):
        return

    # the harness itself: a parse error must show up
    tmp = tempfile.mkdtemp(prefix="cflint-self-")
    try:
        with open(os.path.join(tmp, "Broken.cfc"), "w") as f:
            f.write('<cfcomponent>\n<cffunction name="f">\n<cfset var x = >\n'
                    '</cffunction>\n</cfcomponent>\n')
        report, console = cflint(jar, tmp)
        T.ok(report is not None, "CFLint writes a JSON report", console[-500:])
        if report:
            T.ok(any(f[0] == "PARSE_ERROR" for f in findings(report)),
                 "a broken file is reported as PARSE_ERROR", list(findings(report))[:3])
    finally:
        shutil.rmtree(tmp)

    report, console = cflint(jar, PKG)
    if not T.ok(report is not None, "CFLint report for clients/cfml", console[-500:]):
        return
    T.ok("Could not read config" not in console, "CFLint read clients/cfml/.cflintrc",
         console.strip()[-300:])
    sources = [p for p in glob.glob(os.path.join(PKG, "**", "*"), recursive=True)
               if p.endswith((".cfc", ".cfm"))]
    T.ok(report.get("counts", {}).get("totalFiles") == len(sources),
         "CFLint scanned every .cfc/.cfm", "%r of %d" % (report.get("counts"), len(sources)))
    found = list(findings(report))
    parse = [f for f in found if f[0] in ("PARSE_ERROR", "MISSING_SEMI", "PLUGIN_ERROR")]
    T.ok(not parse, "CFLint: no parse errors", parse)
    rest = [f for f in found if f not in parse and (f[2], f[0]) not in ALLOW]
    T.ok(not rest, "CFLint: no findings", "\n  " + "\n  ".join(
        "%s %s %s:%s %s" % f for f in rest[:40]))
    print("cflint: %d files, %d findings (%d allowed), %d parse errors" % (
        len(sources), len(found), len(found) - len(rest) - len(parse), len(parse)))


def read(rel):
    with open(os.path.join(PKG, rel), encoding="utf-8") as f:
        return f.read()


def functions(cfc):
    """name -> body of each <cffunction> in a tag-based CFC."""
    return {m.group(1): m.group(2) for m in re.finditer(
        r'<cffunction\s+name="(\w+)"(.*?)</cffunction>', cfc, re.S)}


def cfc_source(rel, text=None):
    """The CFC at rel (or text: its source, for a test of the checks) with
    its comments removed, and its functions()."""
    text = read(rel) if text is None else text
    code = re.sub(r"<!---.*?--->", "", text, flags=re.S)
    return code, functions(code)


def arg_names(body):
    """The <cfargument> names of a function body, in order."""
    return re.findall(r'<cfargument name="(\w+)"', body)


def body_of(fns, name):
    """What a function of functions() does: its tags after the opening
    <cffunction ...> (whose hint may name anything)."""
    return fns.get(name, "").split(">", 1)[-1]


def structure():
    cfc = read("models/Crosstalk.cfc")
    wire = read("models/Wire.cfc")
    T.ok(not re.search(r"<cfhttp\b", cfc), "Crosstalk.cfc calls the API only through Wire.cfc")
    settings = functions(read("models/Settings.cfc"))
    T.ok('createObject("component", "Settings")' in cfc,
         "Crosstalk.cfc finds Settings.cfc beside itself")
    T.ok('createObject("component", "Markup")' in cfc,
         "Crosstalk.cfc finds Markup.cfc beside itself")
    T.ok('createObject("component", "Wire")' in cfc,
         "Crosstalk.cfc finds Wire.cfc beside itself, whatever the package's mapping is called")
    hooks = read("models/Hooks.cfc")
    T.ok('createObject("component", "Hooks")' in cfc and "variables.hooks.init(variables.wire)" in cfc,
         "Crosstalk.cfc finds Hooks.cfc beside itself and hands it its Wire.cfc")
    T.ok(not re.search(r"<cfhttp\b", hooks) and
         re.search(r'<cfreturn variables\.wire\.call\(arguments\.method, arguments\.path, arguments\.fields, ""\)>',
                   functions(hooks).get("send", "")),
         "Hooks.cfc calls the API only through Wire.cfc, with the app key and no session")
    hfns = functions(hooks)
    for name, body in functions(cfc).items():
        d = re.search(r"<cfreturn variables\.hooks\.(\w+)\(", body)
        if not d:
            continue
        mine = re.findall(r'<cfargument name="(\w+)"', body)
        theirs = re.findall(r'<cfargument name="(\w+)"([^>]*)>', hfns.get(d.group(1), ""))
        T.ok(d.group(1) == name and name in hfns and mine == [a for a, _ in theirs] and
             all('required="true"' in rest and "default=" not in rest for _, rest in theirs),
             "Crosstalk.%s hands its arguments to Hooks.cfc's %s (the defaults are Crosstalk.cfc's)"
             % (name, d.group(1)), (mine, theirs))
    https = re.findall(r"<cfhttp\b[^>]*>", wire, re.S)
    T.ok(len(https) >= 1, "Wire.cfc uses the <cfhttp> tag")
    for tag in https:
        T.ok('getAsBinary="never"' in tag, "cfhttp getAsBinary=\"never\"", tag)
        T.ok('throwOnError="no"' in tag, "cfhttp throwOnError=\"no\" (errors are typed here)", tag)
        T.ok(re.search(r'timeout="#\w+#"', tag), "cfhttp timeout from the settings", tag)
        T.ok('redirect="no"' in tag, "cfhttp redirect=\"no\"", tag)
    call = functions(wire).get("call", "")
    T.ok(re.search(r'<cfhttpparam type="formfield"[^>]*>\s*</cfloop>\s*<cfif len\(arguments\.file\)>'
                   r'\s*(?:<!---.*?--->\s*)?<cfhttpparam type="file" name="FILE" file="#arguments\.file#">',
                   call, re.S) and re.search(r'asJson = [^>]*and not len\(arguments\.file\)>', call),
         "a file goes as the FILE part after the form fields (the hub reads channel first), never as JSON")
    T.ok(re.search(r'listFirst\(\s*statusLine\s*,\s*" "\s*\)', wire) and
         "statusLine = arguments.res.statusCode" in wire,
         "status from listFirst(cfhttp.statusCode, \" \")")
    T.ok(cfc.count("\n") < 500, "Crosstalk.cfc under CFLint's 500 lines (helpers go beside it)",
         cfc.count("\n"))
    for name, text in (("Crosstalk.cfc", cfc), ("Wire.cfc", wire), ("Markup.cfc", read("models/Markup.cfc")),
                       ("Settings.cfc", read("models/Settings.cfc")), ("Hooks.cfc", hooks),
                       ("ChannelListener.cfc", read("models/ChannelListener.cfc")),
                       ("HookSignature.cfc", read("models/HookSignature.cfc")),
                       ("WebhookReceiver.cfc", read("models/WebhookReceiver.cfc"))):
        T.ok(not re.search(r"<cfscript", text, re.I), name + " is tag-based (CF10)")
        code = re.sub(r"<!---.*?--->", "", text, flags=re.S)
        newer = [p for p in (r"\?:", r"=>", r"\bfunction\s*\(", r"\)\.\w+\(",
                             r"\b(?:fields|merged|attrs|s|arguments\.\w+)\.(?:len|append|each|map|keyExists|find)\(")
                 if re.search(p, code)]
        T.ok(not newer, name + ": no syntax newer than ColdFusion 10", newer)
    m = re.search(r'ERROR_CODES = "([^"]+)"', wire)
    T.ok(m and m.group(1).split(",") == CODES, "one exception type per API error code",
         m and m.group(1))
    m = re.search(r'var statuses = "([^"]+)"', wire)
    T.ok(m and [int(x) for x in m.group(1).split(",")] == STATUSES,
         "error codes line up with their statuses", m and m.group(1))
    T.ok('type="crosstalk.#code#"' in wire, "errors thrown as crosstalk.<code>")
    fns = functions(cfc)
    wfns = functions(wire)
    for name in ("registerSession", "endSession", "mintTicket", "publish", "poll",
                 "getSubscribers", "embed"):
        T.ok(name in fns and 'access="public"' in fns[name], "public method " + name)
    emb = fns.get("embed", "")
    T.ok("crosstalk-embed.js" in emb, "embed() loads crosstalk-embed.js")
    T.ok("send(" not in emb and "mintTicket(" not in emb and "mintQuietly(" in emb,
         "embed() reaches the hub only through mintQuietly()")
    T.ok(re.search(r'<cfset s\["embedMint"\] = false>', settings.get("defaults", "")),
         "embed() mints nothing by default (embedMint false): the browser fetches the ticket")
    quiet = fns.get("mintQuietly", "")
    T.ok(re.search(r'send\("POST", "tickets", structNew\(\), arguments\.session, '
                   r'variables\.settings\.embedMintTimeout\)', quiet),
         "a server-side mint in embed() waits embedMintTimeout, not the request timeout")
    T.ok('<cfcatch type="crosstalk">' in quiet and not re.search(r"<cfrethrow|<cfthrow", quiet),
         "a server-side mint in embed() never throws into the page")
    mfns = functions(read("models/Markup.cfc"))
    T.ok(re.search(r'Chat is unavailable right now\.', mfns.get("unavailable", "")) and
         "variables.markup.unavailable(" in emb and not re.search(r"<cfthrow", emb),
         "embed() answers a line in the chat's place rather than throwing")
    tag = mfns.get("scriptTag", "")
    T.ok("<script async src=" in tag, "embed()'s script loads async: a hanging hub never blocks the page")
    T.ok("encodeForHTMLAttribute" in tag and "<script>" not in tag,
         "embed() escapes what it writes, and writes no inline script")
    ans = wfns.get("answer", "")
    T.ok(re.search(r'listFind\("502,503,504", status\)>\s*<!---[^>]*--->\s*<cfthrow type="crosstalk\.unavailable"', ans),
         "a proxy's non-JSON 502/503/504 is crosstalk.unavailable, not crosstalk.protocol")
    T.ok(re.search(r'<cfset s\["touchTimeout"\] = 2>', settings.get("defaults", "")) and
         "variables.settings.touchTimeout" in fns.get("touchSession", ""),
         "touchSession() waits touchTimeout: it runs on ordinary page views")

    packaging()
    mc = read("ModuleConfig.cfc")
    for rel in re.findall(r'"(helpers/[\w.]+)"', mc):
        T.ok(os.path.exists(os.path.join(PKG, rel)), "ModuleConfig helper exists: " + rel)
    for rel in re.findall(r'#moduleMapping#\.([\w.]+)"', mc):
        T.ok(os.path.exists(os.path.join(PKG, rel.replace(".", "/") + ".cfc")),
             "ModuleConfig maps an existing CFC: " + rel)
    T.ok(not re.search(r"variables\.routes\b", mc), "routes live in config/Router.cfc, not ModuleConfig")
    router = read("config/Router.cfc")
    handlers = re.findall(r'toHandler\(\s*"(\w+)"\s*\)', router)
    T.ok(handlers, "config/Router.cfc routes to a handler")
    for h in handlers:
        T.ok(os.path.exists(os.path.join(PKG, "handlers", h + ".cfc")),
             "config/Router.cfc routes to an existing handler: " + h)
    T.ok(re.search(r'route\(\s*"/ticket"\s*\)\.withAction\(\s*\{\s*"POST"\s*:\s*"create"\s*\}\s*\)', router),
         "the ticket route answers POST only")
    ticket = read("handlers/Ticket.cfc")
    T.ok(re.search(r"@skipCsrf\s*\*/\s*void function create\(", ticket),
         "the ticket action is exempt from cbcsrf's auto-verifier (its guard is X-Requested-With)")
    T.ok("X-Requested-With" in ticket and "statusCode = 503" in ticket and "Retry-After" in ticket,
         "the ticket route wants X-Requested-With and answers 503 with Retry-After when the hub fails")
    T.ok("getEmail" not in mc, "no e-mail address among the display name methods")
    T.ok(re.search(r"this\.cfmapping\s*=\s*mappingName\(\)", mc) and "CROSSTALK_CFMAPPING" in mc,
         "the /crosstalk mapping can be renamed (CROSSTALK_CFMAPPING)")
    code = "\n".join(read(f) for f in ("models/Crosstalk.cfc", "models/Wire.cfc", "models/Markup.cfc", "models/Settings.cfc",
                                       "models/ChannelListener.cfc", "models/Hooks.cfc",
                                       "models/HookSignature.cfc", "models/WebhookReceiver.cfc",
                                       "models/ChatSessionStore.cfc", "handlers/Ticket.cfc",
                                       "interceptors/ChatSession.cfc", "helpers/ChatHelpers.cfm"))
    code = re.sub(r"<!---.*?--->|/\*.*?\*/", "", code, flags=re.S)  # usage examples may
    T.ok(not re.search(r'["\']crosstalk\.(?:models|handlers|interceptors)\.', code),
         "nothing in the package names itself through the crosstalk mapping")
    T.ok('"postLogin"' in mc and '"preLogout"' in mc, "cbauth interception points declared")
    icpt = read("interceptors/ChatSession.cfc")
    T.ok(re.search(r"function\s+postLogin\s*\(", icpt) and
         re.search(r"function\s+preLogout\s*\(", icpt),
         "interceptor listens to postLogin and preLogout")
    helpers = read("helpers/ChatHelpers.cfm")
    names = re.findall(r"function\s+(\w+)\s*\(", helpers)
    T.ok("chatPublish" in names, "chatPublish() helper")
    T.ok(not [n for n in names if n.lower().startswith("ws")],
         "no helper named like the built-in ws* functions", names)
    T.ok(all(n.startswith("chat") for n in names), "every helper starts with chat", names)


def hook_signature(text=None):
    """models/HookSignature.cfc (text: its source, for a test of these
    checks): the one check of the hub's signature, which ChannelListener.cfc
    and WebhookReceiver.cfc both use."""
    code, fns = cfc_source("models/HookSignature.cfc", text)
    ver = fns.get("verified", "")
    T.ok(re.search(r'"v1=" & lCase\(hmac\(ts & "\." & arguments\.body, variables\.secret, '
                   r'"HmacSHA256", "utf-8"\)\)', ver),
         "the signature: v1=hex(HMAC-SHA256(secret, timestamp \".\" raw body))")
    T.ok(re.search(r'<cfset var ts = headerOf\(arguments\.headers, "X-Crosstalk-Timestamp"\)>', ver) and
         re.search(r'<cfset var given = headerOf\(arguments\.headers, "X-Crosstalk-Signature"\)>', ver) and
         re.search(r'<cfif not reFind\("\^\[0-9\]\{1,12\}\$", ts\) or not len\(given\)>\s*<cfreturn false>', ver),
         "the signature and timestamp from X-Crosstalk-Signature and X-Crosstalk-Timestamp (digits)")
    T.ok(re.search(r"<cfif abs\(epochNow\(\) - ts\) gt variables\.maxSkew>\s*<cfreturn false>", ver) and
         re.search(r'<cfset variables\.maxSkew = 300>', code) and
         re.search(r'name="maxSkew"[^>]*default="300"', fns.get("init", "")),
         "a timestamp more than 300 s away is refused")
    T.ok(re.search(r"<cfreturn sameText\(want, given\)>", ver) and
         "java.security.MessageDigest" in fns.get("sameText", "") and
         "compare(arguments.a, arguments.b) eq 0" in fns.get("sameText", ""),
         "the signature compared in constant time (MessageDigest.isEqual, else compare())")
    T.ok(re.search(r'<cfif not len\(trim\(arguments\.secret\)\)>\s*<cfthrow type="crosstalk\.config"',
                   fns.get("init", "")),
         "no signature check without the hook's secret")


def signed_endpoint(name, fns, reads):
    """What ChannelListener.cfc and WebhookReceiver.cfc do alike: the
    signature checked by HookSignature.cfc (never a copy of it) before any
    of reads happens in respond(), a bad one answered 401, anything but a
    POST 405, and no endpoint without its hook's secret."""
    init = fns.get("init", "")
    T.ok(re.search(r'<cfif not len\(trim\(arguments\.secret\)\)>\s*<cfthrow type="crosstalk\.config"', init),
         "no %s without its hook's secret" % name)
    T.ok(re.search(r'<cfset variables\.signature = createObject\("component", "HookSignature"\)>\s*'
                   r'<cfset variables\.signature\.init\(arguments\.secret, arguments\.maxSkew\)>', init) and
         re.search(r'name="maxSkew"[^>]*default="300"', init),
         "%s checks signatures with HookSignature.cfc, its secret and maxSkew (300 s)" % name)
    copies = [f for f in ("hmac(", "sameText(", "epochNow(", "MessageDigest")
              if any(f in body for body in fns.values())]
    T.ok(re.search(r"<cfreturn variables\.signature\.verified\(arguments\.headers, arguments\.body\)>",
                   fns.get("verified", "")) and not copies,
         "%s.verified() is HookSignature.cfc's check, not a copy of it" % name, copies)
    resp = body_of(fns, "respond")
    check = resp.find("verified(")
    used = [i for i in (resp.find(w) for w in reads) if i >= 0]
    T.ok(check >= 0 and used and check < min(used),
         "%s.respond() checks the signature before it reads or dispatches the body" % name)
    T.ok(re.search(r"<cfif not verified\(arguments\.headers, arguments\.body\)>\s*"
                   r"<cfreturn reply\(401,", resp),
         "%s: a call whose signature does not match is answered 401" % name)
    T.ok(re.search(r'<cfif arguments\.method neq "POST">\s*<cfreturn reply\(405,', resp) and
         resp.find('neq "POST"') < check,
         "%s: anything but POST is answered 405" % name)
    handle = body_of(fns, "handle")
    T.ok("getHttpRequestData()" in handle and "respond(req.method, req.headers, body)" in handle and
         re.search(r'<cfcontent type="application/json; charset=utf-8" variable=', handle) and
         re.search(r'<cfheader statuscode="#ans\.status#">', handle),
         "%s.handle() reads the request, answers through respond() and writes JSON with cfcontent" % name)


# ChannelListener's methods and their arguments, as ColdFusion's ChannelListener has them
LISTENER = {"allowSubscribe": ["subscriberInfo"], "allowPublish": ["publisherInfo"],
            "beforePublish": ["message", "publisherInfo"]}


def channel_listener(text=None):
    """models/ChannelListener.cfc (text: its source, for a test of these
    checks) and the examples that extend it."""
    own = text is None
    code, fns = cfc_source("models/ChannelListener.cfc", text)
    for name, want in LISTENER.items():
        T.ok(name in fns and 'access="public"' in fns[name] and arg_names(fns[name]) == want,
             "ChannelListener.%s(%s), as ColdFusion's" % (name, ", ".join(want)))
    T.ok(re.search(r"<cfreturn true>", fns.get("allowSubscribe", "")) and
         re.search(r"<cfreturn true>", fns.get("allowPublish", "")) and
         re.search(r"<cfreturn arguments\.message>", fns.get("beforePublish", "")),
         "ChannelListener allows everything until a method is overridden")
    resp = fns.get("respond", "")
    signed_endpoint("ChannelListener", fns, ("deserializeJSON(", "isJSON(", "dispatch(", "allowSubscribe(",
                                             "allowPublish(", "beforePublish("))
    keys = set(re.findall(r'"(\w+)":', code))
    T.ok(keys == {"allow", "message", "text"},
         "the answer's keys are the hub's: allow, message, text", sorted(keys))
    T.ok(not re.search(r'"allow":\s*"', code) and not re.search(r"\bserializeJSON\(", code),
         "allow is a JSON boolean (no serializeJSON, whose booleans may be \"YES\")")
    thrown = re.findall(r'<cfthrow type="([\w.]+)"', fns.get("deny", ""))
    T.ok(thrown and re.search(r'<cfcatch type="%s">\s*<cfreturn reply\(200, false, cfcatch\.message,'
                              % re.escape(thrown[0]), resp),
         "deny(message) throws what respond() answers as allow false with that message", thrown)
    disp = fns.get("dispatch", "")
    T.ok(re.search(r"compare\(changed, text\) neq 0\)>", disp) and
         re.search(r"<cfif arguments\.rewrite>\s*<cfset json = json & ',\"text\":'", fns.get("reply", "")),
         "a publish's text is answered only when beforePublish changed it")
    if own:
        examples("ChannelListener", LISTENER)


def examples(base, methods):
    """The examples that extend base: its methods overridden with their
    arguments, and a page that calls the example's handle()."""
    for path in sorted(glob.glob(os.path.join(PKG, "examples", "*.cfc"))):
        ex = read(os.path.relpath(path, PKG))
        name = os.path.basename(path)
        if not re.search(r'extends="[\w.]*\b%s"' % base, ex):
            continue
        for fn, body in functions(ex).items():
            if fn in methods:
                T.ok(arg_names(body) == methods[fn], "%s: %s(%s)" % (name, fn, ", ".join(methods[fn])),
                     arg_names(body))
        pages = [p for p in glob.glob(os.path.join(PKG, "examples", "*.cfm"))
                 if re.search(r'createObject\("component", "%s"\)' % name[:-4], open(p).read())]
        T.ok(pages and all(".handle()" in open(p).read() for p in pages),
             "%s: a page that calls its handle()" % name)


# WebhookReceiver's methods for the kinds of events, and the hub's types they answer
RECEIVER = {"onMessage": "message", "onMention": "mention", "onMember": "member", "onSession": "session"}


def webhook_receiver(text=None):
    """models/WebhookReceiver.cfc (text: its source, for a test of these
    checks) and the examples that extend it."""
    own = text is None
    code, fns = cfc_source("models/WebhookReceiver.cfc", text)
    for name in ["onEvent"] + sorted(RECEIVER):
        T.ok(name in fns and 'access="public"' in fns[name] and arg_names(fns[name]) == ["event"],
             "WebhookReceiver.%s(event)" % name)
    T.ok(all(re.sub(r"<cfargument[^>]*>", "", body_of(fns, n) or "x").strip() == "" for n in RECEIVER),
         "WebhookReceiver's onMessage, onMention, onMember and onSession do nothing until overridden")
    on = body_of(fns, "onEvent")
    T.ok(re.search(r'<cfswitch expression="#arguments\.event\.type#">', on) and
         all(re.search(r'<cfcase value="%s"><cfset %s\(arguments\.event\)></cfcase>' % (t, n), on)
             for n, t in RECEIVER.items()) and
         re.search(r"<cfdefaultcase>\s*(?:<!---.*?--->\s*)?</cfdefaultcase>", on, re.S),
         "onEvent() hands each type to its method, and skips a type it does not know")
    resp = body_of(fns, "respond")
    signed_endpoint("WebhookReceiver", fns, ("deserializeJSON(", "isJSON(", "onEvent("))
    T.ok(re.search(r"<cfset onEvent\(delivery\)>\s*<cfreturn reply\(200,", resp) and
         resp.count("onEvent(") == 1,
         "a verified delivery goes to onEvent(), then is answered 200")
    T.ok("<cfcatch" not in resp + body_of(fns, "handle") + on,
         "an error in onEvent() is not answered 2xx (the hub sends the event again)")
    T.ok(re.search(r'structKeyExists\(delivery, "type"\)', resp) and
         re.search(r'structKeyExists\(delivery, "id"\)', resp) and
         re.search(r'<cfreturn reply\(400,', resp),
         "a body with no type or id is not a delivery (400)")
    keys = set(re.findall(r'"(\w+)":', code))
    T.ok(keys <= {"ok", "error"}, "the answer: {ok} or {ok, error}", sorted(keys))
    if own:
        examples("WebhookReceiver", dict((n, ["event"]) for n in ["onEvent"] + list(RECEIVER)))


def packaging():
    """box.json as ForgeBox wants it, with installs that carry only the package."""
    box = json.loads(read("box.json"))
    T.ok(box.get("type") == "modules" and box.get("slug") == "crosstalk",
         "box.json: a ColdBox module named crosstalk")
    for k in ("name", "version", "author", "shortDescription", "location", "homepage",
              "repository", "license", "engines", "ignore"):
        T.ok(box.get(k), "box.json: " + k)
    T.ok(re.match(r"^\d+\.\d+\.\d+$", box.get("version", "")), "box.json: a semver version")
    mc = read("ModuleConfig.cfc")
    T.ok('this.version         = "%s"' % box.get("version") in mc or
         re.search(r'this\.version\s*=\s*"%s"' % re.escape(box.get("version", "")), mc),
         "box.json and ModuleConfig.cfc give the same version")
    T.ok(box.get("location") == "ForgeboxStorage",
         "box.json: published from this folder (box publish), not a whole-repository archive")
    repo = box.get("repository") or {}
    T.ok(repo.get("type") == "git" and str(repo.get("URL", "")).startswith("https://"),
         "box.json: repository {type: git, URL}")
    ign = box.get("ignore") or []
    T.ok(any(re.match(r"^/?recordings/?", p) for p in ign), "box.json: recordings/ stay out of installs", ign)
    T.ok(any(re.match(r"^/?examples/?", p) for p in ign),
         "box.json: examples/ (a page to copy, not to serve from modules/) stay out of installs", ign)
    T.ok(any(re.match(r"^/?tests?/?$", p.rstrip("*")) for p in ign), "box.json: tests stay out of installs", ign)
    T.ok("**/.*" in ign, "box.json: dotfiles (.cflintrc) stay out of installs", ign)
    for p in ign:
        T.ok(not re.search(r"models|handlers|helpers|interceptors|config|ModuleConfig", p),
             "box.json: the ignore list keeps the code in: " + p)
    eng = {e.get("type"): e.get("version") for e in box.get("engines") or []}
    # ColdBox 6+ (the module, closures, ?:) needs Adobe ColdFusion 2018+ or Lucee 5+
    T.ok(eng.get("adobe") == ">=2018" and eng.get("lucee") == ">=5",
         "box.json: engines as the ColdBox module needs them (Adobe 2018+, Lucee 5+)", eng)


def recordings():
    """Each @client recording sends what that method of the client sends
    (a method that hands its arguments to Hooks.cfc: what Hooks.cfc sends)."""
    fns = functions(read("models/Crosstalk.cfc"))
    hooks = functions(read("models/Hooks.cfc"))
    files = sorted(glob.glob(os.path.join(PKG, "recordings", "*.http")))
    T.ok(len(files) >= 7, "recordings exist")
    for path in files:
        name = os.path.basename(path)
        text = open(path, encoding="utf-8").read()
        lines = text.split("\n")
        T.ok(text.endswith("\n") and "\r" not in text, name + ": LF lines")
        client = [l.split("@client", 1)[1].split() for l in lines if l.startswith("# @client")]
        req = next(l for l in lines if l and not l.startswith("#"))
        hdrs, i = {}, lines.index(req) + 1
        while lines[i] != "":
            k, _, v = lines[i].partition(":")
            hdrs[k.strip().lower()] = v.strip()
            i += 1
        body = "\n".join(lines[i + 1:]).rstrip("\n")
        T.ok(hdrs.get("user-agent") == "ColdFusion", name + ": cfhttp's User-Agent")
        T.ok(hdrs.get("authorization", "").startswith("Bearer "), name + ": Bearer key")
        verb, target, _ = req.split(" ", 2)
        T.ok(target.startswith("{{BASE}}/"), name + ": under {{BASE}}")
        route, _, query = target[len("{{BASE}}/"):].partition("?")
        sent = [kv.split("=", 1)[0] for kv in query.split("&") if kv]
        ctype = hdrs.get("content-type", "")
        parts = []  # multipart/form-data: (name, is a file) in body order
        if body and ctype.startswith("multipart/form-data"):
            T.ok(any(l == "# @crlf" for l in lines), name + ": @crlf (multipart lines end in CRLF)")
            b = re.search(r"boundary=([^;\s]+)", ctype)
            for part in body.split("--" + b.group(1) if b else "\0")[1:-1]:
                d = re.search(r'^Content-Disposition: form-data; name="([^"]*)"(; filename=")?',
                              part, re.M)
                if T.ok(d, name + ": a form-data part", part[:80]):
                    parts.append((d.group(1), bool(d.group(2))))
            T.ok(b and parts and body.endswith("--%s--" % b.group(1)), name + ": a closed multipart body")
            sent += [n for n, is_file in parts if not is_file]
            T.ok(all(n == n.upper() for n, _ in parts), name + ": upper-case part names", parts)
        elif body and ctype.startswith("application/x-www-form-urlencoded"):
            sent += [kv.split("=", 1)[0] for kv in body.split("&")]
        elif body and ctype.startswith("application/json"):
            try:
                doc = json.loads(re.sub(r"\{\{[^}]+\}\}", "0", body.lstrip("/")))
                sent += list(doc)
            except ValueError:
                pass  # the malformed-JSON recording
        T.ok(all(k == k.upper() for k in sent), name + ": upper-case field names", sent)
        if not client:
            continue
        method, mode = client[0][0], (client[0][1:] or ["form"])[0]
        fn = fns.get(method)
        if not T.ok(fn, name + ": @client %s is a method of Crosstalk.cfc" % method):
            continue
        d = re.search(r"<cfreturn variables\.hooks\.(\w+)\(", fn)
        if d:
            fn = hooks.get(d.group(1), "")
        # send(method, path, fields, session...); Hooks.cfc's send() has no session
        m = re.search(r'send\("(\w+)",\s*"([\w/]+)",\s*(structNew\(\)|\w+)(?:,\s*([\w."]+))?', fn)
        if not T.ok(m, name + ": %s calls send()" % method):
            continue
        T.ok(m.group(1) == verb, name + ": %s uses %s" % (method, m.group(1)), verb)
        T.ok(m.group(2) == route, name + ": %s calls %s" % (method, m.group(2)), route)
        fields = set(re.findall(r'fields\["(\w+)"\]', fn)) | \
            set(re.findall(r'putIf\(fields, "(\w+)"', fn))
        T.ok(set(sent) <= fields, name + ": fields the client sends", "%r vs %r" % (sent, fields))
        has = "x-crosstalk-session" in hdrs
        if m.group(4) != "arguments.session":
            T.ok(not has, name + ": no session header: %s sends none" % method)
        elif re.search(r'<cfargument name="session"[^>]*required="true"', fn):
            T.ok(has, name + ": session header: %s always sends it" % method)
        # a method that hands send() a file: multipart, the fields, then one FILE part
        with_file = re.search(r'send\("POST",\s*"[\w/]+"(?:,\s*[\w.]+){3},\s*arguments\.\w+\)', fn)
        if with_file:
            T.ok(ctype.startswith("multipart/form-data"), name + ": %s sends multipart" % method, ctype)
            T.ok([p for p in parts if p[1]] == [("FILE", True)] and parts[-1] == ("FILE", True),
                 name + ": the fields, then one FILE part (Wire.cfc's order)", parts)
        elif verb == "POST" and sent:
            want = "application/json" if mode == "json" else "application/x-www-form-urlencoded"
            T.ok(ctype.startswith(want), name + ": %s body" % mode, ctype)


def camel(data_attr):
    parts = data_attr[len("data-"):].split("-")
    return parts[0] + "".join(x.title() for x in parts[1:])


def embed():
    """embed()'s HTML: the recorded output (recordings/embed.html, which
    test/cfml/embed.mjs runs in a browser) matches the code, and
    web/crosstalk-embed.js reads every attribute and option it writes."""
    fns = functions(read("models/Markup.cfc"))
    m = re.search(r'<cfloop list="(data-[\w,-]+)" index="key">', fns.get("scriptTag", ""))
    if not T.ok(m, "scriptTag() writes a known list of data-* attributes"):
        return
    written = m.group(1).split(",")
    for rec in ("embed.html", "embed-minted.html"):
        golden = read("recordings/" + rec)
        used = re.findall(r'\s(data-[\w-]+)="', golden)
        T.ok(used and [a for a in written if a in used] == used,
             "recordings/%s: attributes in the order embed() writes them" % rec, used)
        T.ok(golden.startswith('<div id="chat" class="crosstalk-chat"></div>\n<script async src="'),
             "recordings/%s: the container div, then one async script element" % rec)
        T.ok(golden.count("<script") == 1 and "crosstalkEmbed.mount" not in golden,
             "recordings/%s: no inline script" % rec)
        T.ok(("data-ticket=" in golden) == (rec == "embed-minted.html"),
             "recordings/%s: a ticket in the page only when minted on the server" % rec)
    js_path = os.path.join(SRC, "web", "crosstalk-embed.js")
    if not T.ok(os.path.exists(js_path), "web/crosstalk-embed.js exists"):
        return
    js = open(js_path, encoding="utf-8").read()
    for a in written:
        T.ok(re.search(r"\bd\.%s\b" % camel(a), js), "crosstalk-embed.js reads " + a)
    for a in written:
        T.ok(re.search(r"\bopts\.%s\b" % camel(a), js), "crosstalkEmbed.mount() takes " + camel(a))
    T.ok(re.search(r"global\.crosstalkEmbed\s*=", js), "crosstalk-embed.js defines crosstalkEmbed")


def main():
    lint()
    structure()
    hook_signature()
    channel_listener()
    webhook_receiver()
    recordings()
    embed()
    T.done()


if __name__ == "__main__":
    main()
