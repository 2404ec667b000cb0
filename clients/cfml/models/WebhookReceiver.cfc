<!---
	WebhookReceiver.cfc - the page a webhook delivers to (POST hooks/add, addWebhook(), or crosstalkctl
	hook add): extend it and override any of onMessage(event), onMention(event), onMember(event) and
	onSession(event), or onEvent(event) for all of them; the page the hook's URL names calls handle().

		chat/MentionMailer.cfc:
		<cfcomponent extends="crosstalk.models.WebhookReceiver" output="false">
			<cffunction name="onMention" access="public" returntype="void" output="false">
				<cfargument name="event" type="struct" required="true">
				<cfmail to="#addressOf(arguments.event.user.id)#" from="chat@example.com"
					subject="#arguments.event.event.user.name# mentioned you">#arguments.event.event.text#</cfmail>
			</cffunction>
		</cfcomponent>

		chat/webhook.cfm, the page the hook's URL names:
		<cfset createObject("component", "MentionMailer").init(secret = hookSecret).handle()>

	event is the delivery as the hub sent it (docs/API.md, webhooks), parsed:
		id          the delivery's id: the same on every retry of the same event (X-Crosstalk-Id)
		type        message, mention, member or session
		app         the app the hook is registered for
		created_at  when it happened (ISO-8601 UTC)
		event       message, mention: the message as polls have it (id, seq, channel, text, user:
		            {id, name}, ...); member: the change (channel, user, added, removed)
		user        mention: the person mentioned, who had no open connection ({id, name});
		            session: the user who logged in or out
		action      session: login or logout

	handle() answers 405 to anything but POST and 401 to a delivery whose signature does not match
	or whose timestamp is more than maxSkew (300) seconds away (HookSignature.cfc, shared with
	ChannelListener.cfc), before it reads the body; then it calls onEvent(event), whose default calls
	the method of the event's type (each does nothing until overridden; a type this component does
	not know is skipped), and answers 200. An error in them is a 500: the hub sends the event
	again later (2, 4, 8 ... seconds), so deliveries come at least once; a repeat has the same id:
	drop the ids you have handled. The hub waits [hooks] timeout (10 s) for the answer: do quick
	work here (cfmail spools, it does not wait for the mail server) and slow work elsewhere.
	Tag-based, no member functions (ColdFusion 10 and later engines).
--->
<cfcomponent output="false" hint="crosstalk: base component of a webhook's endpoint">

	<!--- the check of the hub's signature (HookSignature.cfc, beside this file) --->
	<cfset variables.signature = "">

	<cffunction name="init" access="public" returntype="any" output="false" hint="secret: the hook's, as hooks/add answered it once (whsec_...).">
		<cfargument name="secret" type="string" required="true" hint="the hook's secret: keep it out of source control">
		<cfargument name="maxSkew" type="numeric" required="false" default="300" hint="seconds a delivery's timestamp may be away from this server's clock">
		<cfif not len(trim(arguments.secret))>
			<cfthrow type="crosstalk.config" message="crosstalk: a WebhookReceiver needs its hook's secret"
				detail="Pass init(secret = ...) what addWebhook() (hooks/add, crosstalkctl hook add) answered.">
		</cfif>
		<cfset variables.signature = createObject("component", "HookSignature")>
		<cfset variables.signature.init(arguments.secret, arguments.maxSkew)>
		<cfreturn this>
	</cffunction>

	<!--- ======== what a receiver overrides ======== --->
	<!--- (the defaults do nothing; the arguments are there for the overrides) --->

	<cffunction name="onEvent" access="public" returntype="void" output="false" hint="Every verified delivery. The default calls onMessage, onMention, onMember or onSession by the event's type; a type it does not know is skipped (answered 200).">
		<cfargument name="event" type="struct" required="true" hint="the delivery: id, type, app, created_at, and event, user or action by its type">
		<cfswitch expression="#arguments.event.type#">
			<cfcase value="message"><cfset onMessage(arguments.event)></cfcase>
			<cfcase value="mention"><cfset onMention(arguments.event)></cfcase>
			<cfcase value="member"><cfset onMember(arguments.event)></cfcase>
			<cfcase value="session"><cfset onSession(arguments.event)></cfcase>
			<cfdefaultcase><!--- a kind this component does not know yet: answered 200, skipped ---></cfdefaultcase>
		</cfswitch>
	</cffunction>

	<!--- @CFLintIgnore UNUSED_METHOD_ARGUMENT --->
	<cffunction name="onMessage" access="public" returntype="void" output="false" hint="A message in a channel the app may read: event.event is the message (id, seq, channel, text, user {id, name}, ...).">
		<cfargument name="event" type="struct" required="true" hint="the delivery">
	</cffunction>

	<!--- @CFLintIgnore UNUSED_METHOD_ARGUMENT --->
	<cffunction name="onMention" access="public" returntype="void" output="false" hint="A message mentioning one of the app's users who had no open connection (the one to e-mail): event.user {id, name}, event.event the message.">
		<cfargument name="event" type="struct" required="true" hint="the delivery">
	</cffunction>

	<!--- @CFLintIgnore UNUSED_METHOD_ARGUMENT --->
	<cffunction name="onMember" access="public" returntype="void" output="false" hint="A member change of a private channel: event.event is the change (channel, user, added, removed).">
		<cfargument name="event" type="struct" required="true" hint="the delivery">
	</cffunction>

	<!--- @CFLintIgnore UNUSED_METHOD_ARGUMENT --->
	<cffunction name="onSession" access="public" returntype="void" output="false" hint="A login of the app registered or ended: event.action (login, logout) and event.user {id, name}.">
		<cfargument name="event" type="struct" required="true" hint="the delivery">
	</cffunction>

	<!--- ======== the request ======== --->

	<cffunction name="handle" access="public" returntype="void" output="false" hint="Answers the hub's delivery in this request: reads it, checks its signature, hands it to onEvent() and writes the answer (cfcontent ends the request).">
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

	<cffunction name="respond" access="public" returntype="struct" output="false" hint="The answer to one delivery, {status, json}, without touching the page: handle() writes it; a framework's handler (or a test) may call this instead. Errors of onEvent() are not caught: the hub retries what was not answered 2xx.">
		<cfargument name="method" type="string" required="true" hint="the request's HTTP method">
		<cfargument name="headers" type="struct" required="true" hint="its headers (getHttpRequestData().headers)">
		<cfargument name="body" type="string" required="true" hint="its raw body, as sent">
		<cfset var delivery = "">
		<cfif arguments.method neq "POST">
			<cfreturn reply(405, "POST only")>
		</cfif>
		<!--- nothing of the body is read before its signature is checked --->
		<cfif not verified(arguments.headers, arguments.body)>
			<cfreturn reply(401, "bad signature")>
		</cfif>
		<cfif isJSON(arguments.body)>
			<cfset delivery = deserializeJSON(arguments.body)>
		</cfif>
		<cfif not isStruct(delivery) or not structKeyExists(delivery, "type") or not isSimpleValue(delivery.type)
			or not structKeyExists(delivery, "id") or not isSimpleValue(delivery.id)>
			<cfreturn reply(400, "not a webhook delivery")>
		</cfif>
		<cfset onEvent(delivery)>
		<cfreturn reply(200, "")>
	</cffunction>

	<cffunction name="verified" access="public" returntype="boolean" output="false" hint="True when the delivery's X-Crosstalk-Signature and X-Crosstalk-Timestamp are the hub's (HookSignature.cfc: HMAC-SHA256 with the hook's secret over timestamp, '.' and body; at most maxSkew seconds away).">
		<cfargument name="headers" type="struct" required="true" hint="the request's headers">
		<cfargument name="body" type="string" required="true" hint="the raw body">
		<cfreturn variables.signature.verified(arguments.headers, arguments.body)>
	</cffunction>

	<cffunction name="reply" access="private" returntype="struct" output="false" hint="{status, json}: {ok: true}, or {ok: false, error} (the hub reads only the status).">
		<cfargument name="status" type="numeric" required="true" hint="HTTP status">
		<cfargument name="error" type="string" required="true" hint="what was wrong (empty: nothing)">
		<cfset var ans = structNew()>
		<cfset ans["status"] = arguments.status>
		<cfif arguments.status eq 200>
			<cfset ans["json"] = '{"ok":true}'>
		<cfelse>
			<!--- fixed words of this component, never anything of the request --->
			<cfset ans["json"] = '{"ok":false,"error":"' & arguments.error & '"}'>
		</cfif>
		<cfreturn ans>
	</cffunction>

</cfcomponent>
