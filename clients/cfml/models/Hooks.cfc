<!---
	Hooks.cfc - registering the app's hooks with the hub, for Crosstalk.cfc, whose public methods of
	the same names call these (their arguments and defaults are declared there): channel hooks
	(channel_hooks/*, answered by a ChannelListener.cfc) and webhooks (hooks/*, received by a
	WebhookReceiver.cfc). Every call is the app's, with its key: never a user's session.
	Tag-based, no member functions (ColdFusion 10 and later engines).
--->
<cfcomponent output="false" hint="crosstalk: the calls that register, list and remove the app's channel hooks and webhooks">

	<cfset variables.wire = "">

	<cffunction name="init" access="public" returntype="any" output="false" hint="wire: Crosstalk.cfc's Wire.cfc, with its settings.">
		<cfargument name="wire" type="any" required="true" hint="the Wire.cfc the client calls the API with">
		<cfset variables.wire = arguments.wire>
		<cfreturn this>
	</cffunction>

	<!--- ======== channel hooks ======== --->

	<cffunction name="addChannelHook" access="public" returntype="struct" output="false" hint="POST channel_hooks/add: {ok, hook: {id, pattern, url, events, timeout_ms, fail}, secret}.">
		<cfargument name="pattern" type="string" required="true" hint="a channel name, a prefix ending in *, or *">
		<cfargument name="url" type="string" required="true" hint="the page that calls a ChannelListener's handle()">
		<cfargument name="events" type="any" required="true" hint="publish, subscribe: an array or a list (empty: both)">
		<cfargument name="timeoutMs" type="numeric" required="true" hint="milliseconds (0: the hub's default)">
		<cfargument name="fail" type="string" required="true" hint="open or closed (empty: the hub's default, open)">
		<cfset var fields = structNew()>
		<cfset var eventList = listOf(arguments.events)>
		<cfset fields["PATTERN"] = arguments.pattern>
		<cfset fields["URL"] = arguments.url>
		<cfif len(eventList)><cfset fields["EVENTS"] = eventList></cfif>
		<cfif arguments.timeoutMs gt 0><cfset fields["TIMEOUT_MS"] = arguments.timeoutMs></cfif>
		<cfif len(arguments.fail)><cfset fields["FAIL"] = arguments.fail></cfif>
		<cfreturn send("POST", "channel_hooks/add", fields)>
	</cffunction>

	<cffunction name="getChannelHooks" access="public" returntype="struct" output="false" hint="GET channel_hooks: {ok, hooks}, never their secrets.">
		<cfreturn send("GET", "channel_hooks", structNew())>
	</cffunction>

	<cffunction name="removeChannelHook" access="public" returntype="struct" output="false" hint="POST channel_hooks/remove: {ok, removed}.">
		<cfargument name="id" type="string" required="true" hint="the hook's id">
		<cfset var fields = structNew()>
		<cfset fields["ID"] = arguments.id>
		<cfreturn send("POST", "channel_hooks/remove", fields)>
	</cffunction>

	<!--- ======== webhooks ======== --->

	<cffunction name="addWebhook" access="public" returntype="struct" output="false" hint="POST hooks/add: {ok, hook: {id, url, events}, secret}.">
		<cfargument name="url" type="string" required="true" hint="the page that calls a WebhookReceiver's handle()">
		<cfargument name="events" type="any" required="true" hint="message, mention, member, session: an array or a list (empty: message)">
		<cfset var fields = structNew()>
		<cfset var eventList = listOf(arguments.events)>
		<cfset fields["URL"] = arguments.url>
		<cfif len(eventList)><cfset fields["EVENTS"] = eventList></cfif>
		<cfreturn send("POST", "hooks/add", fields)>
	</cffunction>

	<cffunction name="getWebhooks" access="public" returntype="struct" output="false" hint="GET hooks: {ok, hooks: [{id, url, events, pending, parked}]}, never their secrets.">
		<cfreturn send("GET", "hooks", structNew())>
	</cffunction>

	<cffunction name="removeWebhook" access="public" returntype="struct" output="false" hint="POST hooks/remove: {ok, removed}.">
		<cfargument name="id" type="string" required="true" hint="the hook's id">
		<cfset var fields = structNew()>
		<cfset fields["ID"] = arguments.id>
		<cfreturn send("POST", "hooks/remove", fields)>
	</cffunction>

	<!--- ======== helpers ======== --->

	<cffunction name="send" access="private" returntype="struct" output="false" hint="One call with the app's key and no session (Wire.cfc): the parsed answer, or crosstalk.* thrown.">
		<cfargument name="method" type="string" required="true" hint="GET or POST">
		<cfargument name="path" type="string" required="true" hint="path under /api/v1">
		<cfargument name="fields" type="struct" required="true" hint="request fields (upper-case names)">
		<cfreturn variables.wire.call(arguments.method, arguments.path, arguments.fields, "")>
	</cffunction>

	<cffunction name="listOf" access="private" returntype="string" output="false" hint="A list of events as the hub takes it: an array joined with commas, a list as it is.">
		<cfargument name="events" type="any" required="true" hint="an array or a comma-separated list">
		<cfif isArray(arguments.events)>
			<cfreturn arrayToList(arguments.events)>
		</cfif>
		<cfreturn arguments.events>
	</cffunction>

</cfcomponent>
