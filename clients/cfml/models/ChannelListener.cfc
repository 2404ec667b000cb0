<!---
	ChannelListener.cfc - the page a channel hook calls (POST channel_hooks/add, or crosstalkctl
	channel-hook add), shaped like ColdFusion's ChannelListener for <cfwebsocket>: extend it and
	override any of allowSubscribe(subscriberInfo), allowPublish(publisherInfo) and
	beforePublish(message, publisherInfo); the page the hook's URL names calls handle().

		chat/SupportChannelListener.cfc:
		<cfcomponent extends="crosstalk.models.ChannelListener" output="false">
			<cffunction name="beforePublish" access="public" returntype="any" output="false">
				<cfargument name="message" type="any" required="true">
				<cfargument name="publisherInfo" type="struct" required="true">
				<cfif reFindNoCase("https?://", arguments.message)>
					<cfset deny("No links in ###arguments.publisherInfo.channel#, please.")>
				</cfif>
				<cfreturn arguments.message>
			</cffunction>
		</cfcomponent>

		chat/hook.cfm, the page the hook's URL names:
		<cfset createObject("component", "SupportChannelListener").init(secret = hookSecret).handle()>

	What the hub asks, {"type": "publish"|"subscribe", "channel", "app", "user": {"id", "name"},
	"text", "client_id"}, comes to the methods as subscriberInfo / publisherInfo:
		channel          the channel's name
		app              the app the user is logged in to (app1, ...)
		userId, userName the user (user.id as the hub shows it, and the name others see)
		clientId         a publish's client id (the author's id for that message; may be empty)
		connectionInfo   {userId, userName, app, clientId, authenticated: true}, for code written
		                 against <cfwebsocket>'s subscriberInfo.connectionInfo (username and clientid
		                 read the same keys: structs are case-insensitive)
		request          the hub's request as it came (parsed), for anything not listed here
	and a publish's text is beforePublish's message.

	The answer: allowSubscribe/allowPublish returning false refuses ({"allow":false}: the user reads
	"refused by the channel's hook"); deny(message), from any of the three methods, refuses with that
	message (it throws ChannelListener.deny, which handle() catches: code after it does not run, and
	a <cfcatch type="any"> around it must rethrow). What beforePublish returns, when it differs from
	the text, is what is stored and sent instead ({"allow":true,"text":...}; an empty text is no
	message, which the hub takes for the hook failing: to refuse, deny()). Any other error is the
	hook failing (HTTP 500): the hook's fail setting decides (open: the request goes on as it was;
	closed: refused as unavailable).

	handle() answers 405 to anything but POST and 401 to a call whose X-Crosstalk-Signature
	(v1=hex HMAC-SHA256 with the hook's secret over X-Crosstalk-Timestamp, "." and the raw body)
	does not match or whose timestamp is more than maxSkew (300) seconds away (HookSignature.cfc,
	which WebhookReceiver.cfc shares); it checks that before reading the body. Tag-based, no member
	functions (ColdFusion 10 and later engines).
--->
<cfcomponent output="false" hint="crosstalk: base component of a channel hook's endpoint, as ColdFusion's ChannelListener">

	<!--- the check of the hub's signature (HookSignature.cfc, beside this file) --->
	<cfset variables.signature = "">

	<cffunction name="init" access="public" returntype="any" output="false" hint="secret: the hook's, as channel_hooks/add answered it once (chsec_...).">
		<cfargument name="secret" type="string" required="true" hint="the hook's secret: keep it out of source control">
		<cfargument name="maxSkew" type="numeric" required="false" default="300" hint="seconds a call's timestamp may be away from this server's clock">
		<cfif not len(trim(arguments.secret))>
			<cfthrow type="crosstalk.config" message="crosstalk: a ChannelListener needs its hook's secret"
				detail="Pass init(secret = ...) what channel_hooks/add (crosstalkctl channel-hook add) printed.">
		</cfif>
		<cfset variables.signature = createObject("component", "HookSignature")>
		<cfset variables.signature.init(arguments.secret, arguments.maxSkew)>
		<cfreturn this>
	</cffunction>

	<!--- ======== what a listener overrides ======== --->
	<!--- (their defaults allow all; the arguments are there for the overrides) --->

	<!--- @CFLintIgnore UNUSED_METHOD_ARGUMENT --->
	<cffunction name="allowSubscribe" access="public" returntype="boolean" output="false" hint="May this user subscribe to the channel? true (the default), false, or deny(message).">
		<cfargument name="subscriberInfo" type="struct" required="true" hint="channel, app, userId, userName, connectionInfo, request">
		<cfreturn true>
	</cffunction>

	<!--- @CFLintIgnore UNUSED_METHOD_ARGUMENT --->
	<cffunction name="allowPublish" access="public" returntype="boolean" output="false" hint="May this user publish to the channel? true (the default), false, or deny(message). beforePublish sees the text.">
		<cfargument name="publisherInfo" type="struct" required="true" hint="channel, app, userId, userName, clientId, connectionInfo, request">
		<cfreturn true>
	</cffunction>

	<!--- @CFLintIgnore UNUSED_METHOD_ARGUMENT --->
	<cffunction name="beforePublish" access="public" returntype="any" output="false" hint="The text to store and send instead of message (the default: message as it is), or deny(message).">
		<cfargument name="message" type="any" required="true" hint="the text the user publishes (may be empty when the message carries files)">
		<cfargument name="publisherInfo" type="struct" required="true" hint="as for allowPublish">
		<cfreturn arguments.message>
	</cffunction>

	<cffunction name="deny" access="public" returntype="void" output="false" hint="Refuses the subscribe or publish with a message the user reads (a short sentence, at most 600 bytes). Throws ChannelListener.deny, which handle() answers.">
		<cfargument name="message" type="string" required="false" default="" hint="why (empty: the hub's own words)">
		<cfthrow type="ChannelListener.deny" message="#arguments.message#">
	</cffunction>

	<!--- ======== the request ======== --->

	<cffunction name="handle" access="public" returntype="void" output="false" hint="Answers the hub's call in this request: reads it, checks its signature, asks the methods above and writes the JSON answer (cfcontent ends the request).">
		<cfset var req = getHttpRequestData()>
		<cfset var body = req.content>
		<cfset var ans = structNew()>
		<cfif isBinary(body)>
			<cfset body = charsetEncode(body, "utf-8")>
		</cfif>
		<cfset ans = respond(req.method, req.headers, body)>
		<cfheader statuscode="#ans.status#">
		<cfheader name="Cache-Control" value="no-store">
		<cfcontent type="application/json; charset=utf-8" variable="#charsetDecode(ans.json, "utf-8")#">
	</cffunction>

	<cffunction name="respond" access="public" returntype="struct" output="false" hint="The answer to one call, {status, json}, without touching the page: handle() writes it; a framework's handler (or a test) may call this instead.">
		<cfargument name="method" type="string" required="true" hint="the request's HTTP method">
		<cfargument name="headers" type="struct" required="true" hint="its headers (getHttpRequestData().headers)">
		<cfargument name="body" type="string" required="true" hint="its raw body, as sent">
		<cfset var call = "">
		<cfif arguments.method neq "POST">
			<cfreturn reply(405, false, "POST only", "")>
		</cfif>
		<!--- nothing of the body is read before its signature is checked --->
		<cfif not verified(arguments.headers, arguments.body)>
			<cfreturn reply(401, false, "bad signature", "")>
		</cfif>
		<cfif isJSON(arguments.body)>
			<cfset call = deserializeJSON(arguments.body)>
		</cfif>
		<cfif not isStruct(call) or not structKeyExists(call, "type") or not isSimpleValue(call.type)
			or not structKeyExists(call, "user") or not isStruct(call.user)>
			<cfreturn reply(400, false, "not a channel hook's call", "")>
		</cfif>
		<cftry>
			<cfreturn dispatch(call, infoOf(call))>
			<cfcatch type="ChannelListener.deny">
				<cfreturn reply(200, false, cfcatch.message, "")>
			</cfcatch>
		</cftry>
	</cffunction>

	<cffunction name="dispatch" access="private" returntype="struct" output="false" hint="Asks the methods of a verified call's type; deny() throws through to respond().">
		<cfargument name="call" type="struct" required="true" hint="the parsed request">
		<cfargument name="info" type="struct" required="true" hint="infoOf(call)">
		<cfset var text = fieldOf(arguments.call, "text")>
		<cfset var changed = "">
		<cfif arguments.call.type is "subscribe">
			<cfreturn reply(200, allowSubscribe(arguments.info), "", "")>
		</cfif>
		<cfif arguments.call.type neq "publish">
			<cfreturn reply(400, false, "unknown type " & left(arguments.call.type, 40), "")>
		</cfif>
		<cfif not allowPublish(arguments.info)>
			<cfreturn reply(200, false, "", "")>
		</cfif>
		<cfset changed = beforePublish(text, arguments.info)>
		<cfif not isSimpleValue(changed)>
			<cfthrow type="ChannelListener.answer" message="beforePublish must return the message's text">
		</cfif>
		<!--- a new text is sent only when it differs; an empty one is no message: the hub takes
		      that answer for the hook failing (to refuse, deny()) --->
		<cfreturn reply(200, true, "", changed, compare(changed, text) neq 0)>
	</cffunction>

	<cffunction name="verified" access="public" returntype="boolean" output="false" hint="True when the call's X-Crosstalk-Signature and X-Crosstalk-Timestamp are the hub's (HookSignature.cfc: HMAC-SHA256 with the hook's secret over timestamp, '.' and body; at most maxSkew seconds away).">
		<cfargument name="headers" type="struct" required="true" hint="the request's headers">
		<cfargument name="body" type="string" required="true" hint="the raw body">
		<cfreturn variables.signature.verified(arguments.headers, arguments.body)>
	</cffunction>

	<!--- ======== helpers ======== --->

	<cffunction name="infoOf" access="private" returntype="struct" output="false" hint="subscriberInfo / publisherInfo from the hub's request.">
		<cfargument name="call" type="struct" required="true" hint="the parsed request">
		<cfset var info = structNew()>
		<cfset var conn = structNew()>
		<cfset info["channel"] = fieldOf(arguments.call, "channel")>
		<cfset info["app"] = fieldOf(arguments.call, "app")>
		<cfset info["userId"] = fieldOf(arguments.call.user, "id")>
		<cfset info["userName"] = fieldOf(arguments.call.user, "name")>
		<cfset info["clientId"] = fieldOf(arguments.call, "client_id")>
		<cfset conn["userId"] = info.userId>
		<cfset conn["userName"] = info.userName>
		<cfset conn["app"] = info.app>
		<cfset conn["clientId"] = info.clientId>
		<cfset conn["authenticated"] = true>
		<cfset info["connectionInfo"] = conn>
		<cfset info["request"] = arguments.call>
		<cfreturn info>
	</cffunction>

	<cffunction name="fieldOf" access="private" returntype="string" output="false" hint="s[key] as a string, or an empty string.">
		<cfargument name="s" type="struct" required="true" hint="a struct of the request">
		<cfargument name="key" type="string" required="true" hint="the key">
		<cfif structKeyExists(arguments.s, arguments.key) and isSimpleValue(arguments.s[arguments.key])>
			<cfreturn arguments.s[arguments.key]>
		</cfif>
		<cfreturn "">
	</cffunction>

	<cffunction name="reply" access="private" returntype="struct" output="false" hint="{status, json}: the answer's JSON, with only the keys the hub reads (allow, message, text).">
		<cfargument name="status" type="numeric" required="true" hint="HTTP status">
		<cfargument name="allow" type="boolean" required="true" hint="allow or refuse">
		<cfargument name="message" type="string" required="true" hint="why it is refused (empty: none)">
		<cfargument name="text" type="string" required="true" hint="a publish's new text">
		<cfargument name="rewrite" type="boolean" required="false" default="false" hint="send text (a publish's text was changed)">
		<cfset var ans = structNew()>
		<cfset var json = '{"allow":false'>
		<cfif arguments.allow>
			<cfset json = '{"allow":true'>
			<cfif arguments.rewrite>
				<cfset json = json & ',"text":' & quoteJson(arguments.text)>
			</cfif>
		<cfelseif len(arguments.message)>
			<cfset json = json & ',"message":' & quoteJson(arguments.message)>
		</cfif>
		<cfset ans["status"] = arguments.status>
		<cfset ans["json"] = json & "}">
		<cfreturn ans>
	</cffunction>

	<cffunction name="quoteJson" access="private" returntype="string" output="false" hint="s as a JSON string (serializeJSON would turn some strings into numbers or booleans).">
		<cfargument name="s" type="string" required="true" hint="text">
		<cfset var out = replace(replace(arguments.s, "\", "\\", "all"), '"', '\"', "all")>
		<cfset var c = 0>
		<cfloop from="1" to="31" index="c">
			<cfset out = replace(out, chr(c), "\u" & right("000" & formatBaseN(c, 16), 4), "all")>
		</cfloop>
		<cfreturn '"' & out & '"'>
	</cffunction>

</cfcomponent>
