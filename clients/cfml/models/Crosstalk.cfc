<!---
	Crosstalk.cfc - the crosstalk HTTP API from ColdFusion 10+ and Lucee.

	Plain use:
		ct = createObject("component", "crosstalk.models.Crosstalk").init(
			apiUrl = "https://chat.example.org/api/v1", apiKey = "app1.xxxxxxxx");
		reg = ct.registerSession(userId = "42", displayName = "Ada", ttl = 28800);
		ct.publish(channel = "general", text = "hello", session = reg.session);

	In a ColdBox app the module maps it as "Crosstalk@crosstalk" with the
	module settings (see ModuleConfig.cfc).

	Every method returns the API's JSON answer as a struct (keys as the API
	spells them: lower-case snake_case). A failure throws a typed exception:
	"crosstalk.<code>" for every API error code (crosstalk.unauthorized,
	crosstalk.forbidden, crosstalk.not_found, crosstalk.invalid,
	crosstalk.rate_limited, ...), "crosstalk.connection" when the hub cannot
	be reached or does not answer in time, "crosstalk.protocol" when the
	answer is not crosstalk's JSON, "crosstalk.config" for a missing setting.
	<cfcatch type="crosstalk"> catches all of them.

	Written with tags and without member functions so that it runs on
	ColdFusion 10 as well as on later engines.
--->
<cfcomponent output="false" hint="crosstalk HTTP API client (plain CFC, and the model of the crosstalk ColdBox module)">

	<cfset variables.VERSION = "0.1.0">
	<cfset variables.ERROR_CODES = "bad_request,unauthorized,forbidden,not_found,method_not_allowed,conflict,too_large,unsupported_media_type,invalid,rate_limited,unavailable">
	<cfset variables.settings = structNew()>

	<!--- ================================================================ --->
	<!--- construction                                                      --->
	<!--- ================================================================ --->

	<cffunction name="init" access="public" returntype="any" output="false"
		hint="Settings come as one struct (the ColdBox module passes its settings) and/or as named arguments, which win.">
		<cfargument name="settings" type="struct" required="false" default="#structNew()#" hint="any of the keys of defaultSettings()">
		<cfargument name="apiUrl" type="string" required="false" default="" hint="base URL of the API, ending in /api/v1">
		<cfargument name="apiKey" type="string" required="false" default="" hint="this app's API key, app.secret">
		<cfargument name="timeout" type="numeric" required="false" default="0" hint="seconds for one request (long-polls get their wait on top)">
		<cfset var key = "">
		<cfset var merged = defaultSettings()>
		<cfloop collection="#arguments.settings#" item="key">
			<cfif structKeyExists(merged, key)>
				<cfset merged[key] = arguments.settings[key]>
			</cfif>
		</cfloop>
		<cfif len(arguments.apiUrl)>
			<cfset merged["apiUrl"] = arguments.apiUrl>
		</cfif>
		<cfif len(arguments.apiKey)>
			<cfset merged["apiKey"] = arguments.apiKey>
		</cfif>
		<cfif arguments.timeout gt 0>
			<cfset merged["timeout"] = arguments.timeout>
		</cfif>
		<cfset merged["apiUrl"] = reReplace(trim(merged.apiUrl), "/+$", "")>
		<cfset merged["apiKey"] = trim(merged.apiKey)>
		<cfif not isNumeric(merged.timeout) or merged.timeout lt 1>
			<cfset merged["timeout"] = 10>
		</cfif>
		<cfif not isNumeric(merged.pollGrace) or merged.pollGrace lt 0>
			<cfset merged["pollGrace"] = 5>
		</cfif>
		<cfif not listFindNoCase("form,json", merged.bodyFormat)>
			<cfset merged["bodyFormat"] = "form">
		</cfif>
		<cfset variables.settings = merged>
		<cfreturn this>
	</cffunction>

	<cffunction name="defaultSettings" access="public" returntype="struct" output="false"
		hint="The settings and their defaults.">
		<cfset var s = structNew()>
		<!--- where the API lives, e.g. https://chat.example.org/api/v1 --->
		<cfset s["apiUrl"] = "">
		<!--- this app's key as printed by `crosstalkctl app add`: "<app>.<secret>" --->
		<cfset s["apiKey"] = "">
		<!--- seconds allowed for one request --->
		<cfset s["timeout"] = 10>
		<!--- seconds added to a long-poll's wait for its request timeout --->
		<cfset s["pollGrace"] = 5>
		<!--- "form" (application/x-www-form-urlencoded, recommended) or "json" --->
		<cfset s["bodyFormat"] = "form">
		<!--- sent as User-Agent --->
		<cfset s["userAgent"] = "ColdFusion">
		<!--- login lifetime in seconds when registerSession gets no ttl --->
		<cfset s["defaultTtl"] = 28800>
		<!--- overrides the widget URL the API hands out with each ticket --->
		<cfset s["widgetUrl"] = "">
		<!--- overrides where embed() loads crosstalk-embed.js from (default: the widget's origin) --->
		<cfset s["embedScriptUrl"] = "">
		<!--- fixed widget height in pixels for embed(); empty: the widget sizes itself --->
		<cfset s["embedHeight"] = "">
		<cfreturn s>
	</cffunction>

	<cffunction name="getSettings" access="public" returntype="struct" output="false"
		hint="A copy of the settings in force (the key included: do not print it).">
		<cfreturn duplicate(variables.settings)>
	</cffunction>

	<cffunction name="getVersion" access="public" returntype="string" output="false" hint="This client's version.">
		<cfreturn variables.VERSION>
	</cffunction>

	<!--- ================================================================ --->
	<!--- logins                                                            --->
	<!--- ================================================================ --->

	<cffunction name="registerSession" access="public" returntype="struct" output="false"
		hint="Registers a login of one of this app's users. Returns {ok, session, expires_at, ...}; keep .session with the user's own session (never send CFID/CFTOKEN).">
		<cfargument name="userId" type="string" required="true" hint="the user's id, the same across sister apps">
		<cfargument name="displayName" type="string" required="false" default="" hint="name shown to others (default: the user id)">
		<cfargument name="ttl" type="numeric" required="false" default="0" hint="seconds the login lasts (0: the defaultTtl setting)">
		<cfset var fields = structNew()>
		<cfset fields["USER_ID"] = arguments.userId>
		<cfif len(arguments.displayName)>
			<cfset fields["DISPLAY_NAME"] = arguments.displayName>
		<cfelse>
			<cfset fields["DISPLAY_NAME"] = arguments.userId>
		</cfif>
		<cfif arguments.ttl gt 0>
			<cfset fields["TTL"] = arguments.ttl>
		<cfelse>
			<cfset fields["TTL"] = variables.settings.defaultTtl>
		</cfif>
		<cfreturn send("POST", "sessions", fields, "")>
	</cffunction>

	<cffunction name="endSession" access="public" returntype="struct" output="false"
		hint="Ends a login: its live chat connections close within a second. Returns {ok, ended}; ended is false for a login that was already over (not an error).">
		<cfargument name="session" type="string" required="true" hint="the ref registerSession returned">
		<cfset var fields = structNew()>
		<cfset fields["SESSION"] = arguments.session>
		<cfreturn send("POST", "sessions/end", fields, "")>
	</cffunction>

	<cffunction name="mintTicket" access="public" returntype="struct" output="false"
		hint="A single-use, short-lived ticket for the user's browser. Returns {ok, ticket, expires_in, ws_url, widget_url, user}.">
		<cfargument name="session" type="string" required="true" hint="the user's session ref">
		<cfreturn send("POST", "tickets", structNew(), arguments.session)>
	</cffunction>

	<!--- ================================================================ --->
	<!--- messages                                                          --->
	<!--- ================================================================ --->

	<cffunction name="publish" access="public" returntype="struct" output="false"
		hint="Posts a message. Returns {ok, message}. With a clientId a retry returns the first message instead of posting twice.">
		<cfargument name="channel" type="string" required="true" hint="channel name, or dm:a:b">
		<cfargument name="text" type="string" required="true" hint="1 to 4000 characters">
		<cfargument name="session" type="string" required="false" default="" hint="the author's session ref">
		<cfargument name="clientId" type="string" required="false" default="" hint="your id for this message, for safe retries">
		<cfargument name="excludeSender" type="boolean" required="false" default="false" hint="do not echo it to the author's own connections">
		<cfset var fields = structNew()>
		<cfset fields["CHANNEL"] = arguments.channel>
		<cfset fields["TEXT"] = arguments.text>
		<cfif len(arguments.clientId)>
			<cfset fields["CLIENT_ID"] = arguments.clientId>
		</cfif>
		<cfif arguments.excludeSender>
			<cfset fields["EXCLUDE_SENDER"] = "YES">
		</cfif>
		<cfreturn send("POST", "messages", fields, arguments.session)>
	</cffunction>

	<cffunction name="poll" access="public" returntype="struct" output="false"
		hint="Messages after a seq. Returns {ok, messages, last_seq, has_more}; pass last_seq back as after. With wait > 0 the call waits up to that many seconds for a new message.">
		<cfargument name="channel" type="string" required="true" hint="channel name, or dm:a:b">
		<cfargument name="after" type="string" required="false" default="0" hint="the last seq already seen (a string: seqs can pass 2^53)">
		<cfargument name="limit" type="numeric" required="false" default="100" hint="1 to 200">
		<cfargument name="wait" type="numeric" required="false" default="0" hint="0 to 25 seconds of long-poll">
		<cfargument name="session" type="string" required="false" default="" hint="the reader's session ref">
		<cfset var fields = structNew()>
		<cfset var seconds = variables.settings.timeout>
		<cfset fields["CHANNEL"] = arguments.channel>
		<cfset fields["AFTER"] = arguments.after>
		<cfset fields["LIMIT"] = arguments.limit>
		<cfset fields["WAIT"] = arguments.wait>
		<cfif arguments.wait gt 0 and arguments.wait + variables.settings.pollGrace gt seconds>
			<cfset seconds = ceiling(arguments.wait + variables.settings.pollGrace)>
		</cfif>
		<cfreturn send("GET", "messages/poll", fields, arguments.session, seconds)>
	</cffunction>

	<cffunction name="editMessage" access="public" returntype="struct" output="false"
		hint="Changes a message's text: the author's session, or no session to moderate with the app key (not in dm: channels). Returns {ok, event}.">
		<cfargument name="id" type="string" required="true" hint="message.id">
		<cfargument name="text" type="string" required="true" hint="the new text">
		<cfargument name="session" type="string" required="false" default="" hint="the author's session ref; empty: moderation">
		<cfset var fields = structNew()>
		<cfset fields["ID"] = arguments.id>
		<cfset fields["TEXT"] = arguments.text>
		<cfreturn send("POST", "messages/edit", fields, arguments.session)>
	</cffunction>

	<cffunction name="deleteMessage" access="public" returntype="struct" output="false"
		hint="Deletes a message: the author's session, or no session to moderate with the app key (not in dm: channels). Returns {ok, event}.">
		<cfargument name="id" type="string" required="true" hint="message.id">
		<cfargument name="session" type="string" required="false" default="" hint="the author's session ref; empty: moderation">
		<cfset var fields = structNew()>
		<cfset fields["ID"] = arguments.id>
		<cfreturn send("POST", "messages/delete", fields, arguments.session)>
	</cffunction>

	<cffunction name="markRead" access="public" returntype="struct" output="false"
		hint="Moves the user's read marker in a channel up to seq. Returns {ok, channel, unread}.">
		<cfargument name="channel" type="string" required="true" hint="channel name, or dm:a:b">
		<cfargument name="seq" type="string" required="true" hint="the last seq the user has seen">
		<cfargument name="session" type="string" required="true" hint="the user's session ref">
		<cfset var fields = structNew()>
		<cfset fields["CHANNEL"] = arguments.channel>
		<cfset fields["SEQ"] = arguments.seq>
		<cfreturn send("POST", "messages/read", fields, arguments.session)>
	</cffunction>

	<!--- ================================================================ --->
	<!--- presence and channels                                             --->
	<!--- ================================================================ --->

	<cffunction name="getSubscribers" access="public" returntype="struct" output="false"
		hint="Who is in a channel now, across apps and daemon nodes (GET presence). Returns {ok, channel, users}.">
		<cfargument name="channel" type="string" required="true" hint="channel name">
		<cfargument name="session" type="string" required="false" default="" hint="a session ref, needed for dm: channels">
		<cfset var fields = structNew()>
		<cfset fields["CHANNEL"] = arguments.channel>
		<cfreturn send("GET", "presence", fields, arguments.session)>
	</cffunction>

	<cffunction name="getChannels" access="public" returntype="struct" output="false"
		hint="Channels this app (or, with a session, this user) may read, with unread counts for a user. Returns {ok, channels}.">
		<cfargument name="session" type="string" required="false" default="" hint="a session ref">
		<cfreturn send("GET", "channels", structNew(), arguments.session)>
	</cffunction>

	<cffunction name="createChannel" access="public" returntype="struct" output="false"
		hint="Creates a channel. Returns {ok, channel}; throws crosstalk.conflict when it exists.">
		<cfargument name="name" type="string" required="true" hint="[a-z0-9][a-z0-9_.-]{0,63}">
		<cfargument name="title" type="string" required="false" default="" hint="shown in the widget">
		<cfargument name="apps" type="string" required="false" default="" hint="comma-separated app ids that may use it (empty: all apps)">
		<cfset var fields = structNew()>
		<cfset fields["NAME"] = arguments.name>
		<cfif len(arguments.title)>
			<cfset fields["TITLE"] = arguments.title>
		</cfif>
		<cfif len(arguments.apps)>
			<cfset fields["APPS"] = arguments.apps>
		</cfif>
		<cfreturn send("POST", "channels/create", fields, "")>
	</cffunction>

	<cffunction name="getUnread" access="public" returntype="struct" output="false"
		hint="A user's unread counts per channel, for a badge rendered on the server.">
		<cfargument name="session" type="string" required="true" hint="the user's session ref">
		<cfreturn send("GET", "unread", structNew(), arguments.session)>
	</cffunction>

	<cffunction name="health" access="public" returntype="boolean" output="false"
		hint="True when the API and its database answer; never throws.">
		<cfset var reply = structNew()>
		<cftry>
			<cfset reply = send("GET", "health", structNew(), "")>
			<cfreturn structKeyExists(reply, "ok") and isBoolean(reply.ok) and reply.ok>
			<cfcatch type="crosstalk">
				<cfreturn false>
			</cfcatch>
		</cftry>
	</cffunction>

	<!--- ================================================================ --->
	<!--- the browser side                                                  --->
	<!--- ================================================================ --->

	<cffunction name="embed" access="public" returntype="string" output="false"
		hint="HTML that loads crosstalk-embed.js from the chat origin and mounts the chat widget, signed in with a freshly minted ticket (single use, valid for about a minute: render it into the page being served, do not cache it). Output it unescaped.">
		<cfargument name="session" type="string" required="true" hint="the user's session ref">
		<cfargument name="channel" type="string" required="false" default="" hint="channel to open first">
		<cfargument name="height" type="string" required="false" default="" hint="fixed height in pixels (default: the embedHeight setting; empty: follows the content)">
		<cfargument name="ticketUrl" type="string" required="false" default="" hint="a URL of this app that answers POST with {ticket} for the logged-in user: lets the widget sign in again after a reconnect or a long sleep">
		<cfargument name="elementId" type="string" required="false" default="" hint="id of the container div (default: generated)">
		<cfargument name="cssClass" type="string" required="false" default="crosstalk-chat" hint="class of the container div">
		<cfargument name="title" type="string" required="false" default="Chat" hint="the iframe's accessible title">
		<cfset var minted = mintTicket(arguments.session)>
		<cfset var widgetUrl = variables.settings.widgetUrl>
		<cfset var scriptUrl = variables.settings.embedScriptUrl>
		<cfset var boxId = arguments.elementId>
		<cfset var fixedHeight = arguments.height>
		<cfset var attrs = structNew()>
		<cfset var html = "">
		<cfif not len(widgetUrl) and structKeyExists(minted, "widget_url")>
			<cfset widgetUrl = minted.widget_url>
		</cfif>
		<cfif not len(widgetUrl)>
			<cfthrow type="crosstalk.config" message="crosstalk: no widget URL"
				detail="The API's ticket carried no widget_url and the widgetUrl setting is empty.">
		</cfif>
		<cfif not len(scriptUrl)>
			<cfset scriptUrl = originOf(widgetUrl) & "/crosstalk-embed.js">
		</cfif>
		<cfif not len(boxId)>
			<cfset boxId = "crosstalk-" & lCase(left(replace(createUUID(), "-", "", "all"), 12))>
		</cfif>
		<cfif not len(fixedHeight)>
			<cfset fixedHeight = variables.settings.embedHeight>
		</cfif>
		<cfset attrs["data-target"] = "##" & boxId>
		<cfset attrs["data-ticket"] = minted.ticket>
		<cfset attrs["data-title"] = arguments.title>
		<cfif len(arguments.channel)>
			<cfset attrs["data-channel"] = arguments.channel>
		</cfif>
		<cfif len(fixedHeight)>
			<cfset attrs["data-height"] = val(fixedHeight)>
		</cfif>
		<cfif len(arguments.ticketUrl)>
			<cfset attrs["data-ticket-url"] = arguments.ticketUrl>
		</cfif>
		<cfset html = '<div id="' & encodeForHTMLAttribute(boxId) & '" class="' & encodeForHTMLAttribute(arguments.cssClass) & '"></div>' & chr(10)
			& scriptTags(attrs, scriptUrl, widgetUrl)>
		<cfreturn html>
	</cffunction>

	<cffunction name="scriptTags" access="private" returntype="string" output="false"
		hint="The script element(s) that load crosstalk-embed.js and mount the widget.">
		<cfargument name="attrs" type="struct" required="true" hint="the data-* values embed() collected">
		<cfargument name="scriptUrl" type="string" required="true" hint="where crosstalk-embed.js is">
		<cfargument name="widgetUrl" type="string" required="true" hint="the widget's URL">
		<cfset var html = '<script src="' & encodeForHTMLAttribute(arguments.scriptUrl) & '"'>
		<cfset var key = "">
		<cfif arguments.widgetUrl is not (originOf(arguments.scriptUrl) & "/widget")>
			<!--- the widget lives elsewhere than beside the script: tell mount() where --->
			<cfreturn html & '></script>' & chr(10)
				& '<script>window.crosstalkChat = crosstalkEmbed.mount(' & mountOptions(arguments.attrs, arguments.widgetUrl) & ');</script>' & chr(10)>
		</cfif>
		<!--- the usual layout: one script tag, no inline script (fits a strict Content-Security-Policy) --->
		<cfloop list="data-target,data-channel,data-ticket,data-ticket-url,data-height,data-title" index="key">
			<cfif structKeyExists(arguments.attrs, key)>
				<cfset html = html & " " & key & '="' & encodeForHTMLAttribute(arguments.attrs[key]) & '"'>
			</cfif>
		</cfloop>
		<cfreturn html & '></script>' & chr(10)>
	</cffunction>

	<cffunction name="mountOptions" access="private" returntype="string" output="false"
		hint="The options object for crosstalkEmbed.mount() as JavaScript source.">
		<cfargument name="attrs" type="struct" required="true" hint="the data-* values embed() collected">
		<cfargument name="widgetUrl" type="string" required="true" hint="the widget's URL">
		<cfset var names = "data-target=target,data-channel=channel,data-ticket=ticket,data-ticket-url=ticketUrl,data-height=height,data-title=title">
		<cfset var pair = "">
		<cfset var js = "{widgetUrl:'" & encodeForJavaScript(arguments.widgetUrl) & "'">
		<cfloop list="#names#" index="pair">
			<cfif structKeyExists(arguments.attrs, listFirst(pair, "="))>
				<cfset js = js & "," & listLast(pair, "=") & ":'" & encodeForJavaScript(arguments.attrs[listFirst(pair, "=")]) & "'">
			</cfif>
		</cfloop>
		<cfreturn js & "}">
	</cffunction>

	<!--- ================================================================ --->
	<!--- the wire                                                          --->
	<!--- ================================================================ --->

	<cffunction name="send" access="public" returntype="struct" output="false"
		hint="One API call: METHOD path with fields (upper-case names). Returns the parsed answer or throws crosstalk.*. Public so that endpoints without a method of their own can be called.">
		<cfargument name="method" type="string" required="true" hint="GET or POST">
		<cfargument name="path" type="string" required="true" hint="path under /api/v1, e.g. messages/poll">
		<cfargument name="fields" type="struct" required="false" default="#structNew()#" hint="request fields">
		<cfargument name="session" type="string" required="false" default="" hint="session ref, sent as X-Crosstalk-Session">
		<cfargument name="timeout" type="numeric" required="false" default="0" hint="seconds (0: the timeout setting)">
		<cfset var res = structNew()>
		<cfset var key = "">
		<cfset var verb = uCase(arguments.method)>
		<cfset var seconds = arguments.timeout>
		<cfset var target = variables.settings.apiUrl & "/" & arguments.path>
		<cfset var asJson = variables.settings.bodyFormat is "json" and verb is "POST">
		<cfif not len(variables.settings.apiUrl) or not len(variables.settings.apiKey)>
			<cfthrow type="crosstalk.config" message="crosstalk: apiUrl and apiKey must be set"
				detail="Pass them to init() or set them in moduleSettings.crosstalk.">
		</cfif>
		<cfif seconds lte 0>
			<cfset seconds = variables.settings.timeout>
		</cfif>
		<cfhttp url="#target#" method="#verb#" result="res" timeout="#seconds#"
			charset="utf-8" getAsBinary="never" redirect="no" throwOnError="no"
			userAgent="#variables.settings.userAgent#">
			<cfhttpparam type="header" name="Authorization" value="Bearer #variables.settings.apiKey#">
			<cfhttpparam type="header" name="Accept" value="application/json">
			<cfif len(arguments.session)>
				<cfhttpparam type="header" name="X-Crosstalk-Session" value="#arguments.session#">
			</cfif>
			<cfif verb is "GET">
				<cfloop collection="#arguments.fields#" item="key">
					<cfhttpparam type="url" name="#uCase(key)#" value="#arguments.fields[key]#">
				</cfloop>
			<cfelseif asJson>
				<cfhttpparam type="header" name="Content-Type" value="application/json; charset=utf-8">
				<cfhttpparam type="body" value="#serializeJSON(arguments.fields)#">
			<cfelse>
				<cfloop collection="#arguments.fields#" item="key">
					<cfhttpparam type="formfield" name="#uCase(key)#" value="#arguments.fields[key]#">
				</cfloop>
			</cfif>
		</cfhttp>
		<cfreturn answer(res, verb & " " & arguments.path)>
	</cffunction>

	<cffunction name="answer" access="private" returntype="struct" output="false"
		hint="Turns a cfhttp result into the API's struct, or a typed exception.">
		<cfargument name="res" type="struct" required="true" hint="the cfhttp result">
		<cfargument name="what" type="string" required="true" hint="METHOD path, for messages">
		<cfset var statusLine = "">
		<cfset var status = 0>
		<cfset var body = "">
		<cfset var data = "">
		<cfif structKeyExists(arguments.res, "statusCode")>
			<cfset statusLine = arguments.res.statusCode>
			<cfset status = val(listFirst(statusLine, " "))>
		</cfif>
		<!--- cfhttp reports a refused connection or a timeout as "Connection Failure" or 408 --->
		<cfif status eq 0 or status eq 408>
			<cfthrow type="crosstalk.connection" message="crosstalk: no answer from #variables.settings.apiUrl#"
				detail="#arguments.what#: #statusLine#" errorCode="connection">
		</cfif>
		<cfif structKeyExists(arguments.res, "fileContent") and isSimpleValue(arguments.res.fileContent)>
			<cfset body = arguments.res.fileContent>
		</cfif>
		<cfset data = parseBody(body)>
		<cfif not isStruct(data) or not structKeyExists(data, "ok")>
			<cfthrow type="crosstalk.protocol" message="crosstalk: #arguments.what# answered HTTP #status# without crosstalk JSON"
				detail="#left(body, 300)#" errorCode="protocol">
		</cfif>
		<cfif status gte 200 and status lt 300 and isBoolean(data.ok) and data.ok>
			<cfreturn data>
		</cfif>
		<cfset raise(data, status, arguments.what, retryAfterOf(arguments.res), body)>
		<cfreturn data>
	</cffunction>

	<cffunction name="parseBody" access="private" returntype="any" output="false"
		hint="The JSON value of a response body, or an empty string when it is not JSON.">
		<cfargument name="body" type="string" required="true" hint="response text">
		<cfset var text = trim(arguments.body)>
		<!--- a BOM or a secureJSON "//" prefix would not come from crosstalk, but costs nothing to allow --->
		<cfif len(text) and left(text, 1) is chr(65279)>
			<cfset text = trim(mid(text, 2, len(text)))>
		</cfif>
		<cfif left(text, 2) is "//">
			<cfset text = trim(mid(text, 3, len(text)))>
		</cfif>
		<cfif len(text) and isJSON(text)>
			<cfreturn deserializeJSON(text)>
		</cfif>
		<cfreturn "">
	</cffunction>

	<cffunction name="retryAfterOf" access="private" returntype="string" output="false"
		hint="The Retry-After header of a cfhttp result, or an empty string.">
		<cfargument name="res" type="struct" required="true" hint="the cfhttp result">
		<cfif structKeyExists(arguments.res, "responseHeader") and isStruct(arguments.res.responseHeader)
			and structKeyExists(arguments.res.responseHeader, "Retry-After")
			and isSimpleValue(arguments.res.responseHeader["Retry-After"])>
			<cfreturn arguments.res.responseHeader["Retry-After"]>
		</cfif>
		<cfreturn "">
	</cffunction>

	<cffunction name="raise" access="private" returntype="void" output="false"
		hint="Throws crosstalk.<code> for an API error answer.">
		<cfargument name="data" type="struct" required="true" hint="the parsed error answer">
		<cfargument name="status" type="numeric" required="true" hint="HTTP status">
		<cfargument name="what" type="string" required="true" hint="METHOD path">
		<cfargument name="retryAfter" type="string" required="true" hint="Retry-After, or empty">
		<cfargument name="body" type="string" required="true" hint="the raw answer, kept in extendedInfo">
		<cfset var code = "">
		<cfset var message = "">
		<cfset var detail = "#arguments.what#: HTTP #arguments.status#">
		<cfif structKeyExists(arguments.data, "error") and isStruct(arguments.data.error)>
			<cfif structKeyExists(arguments.data.error, "code") and isSimpleValue(arguments.data.error.code)>
				<cfset code = lCase(reReplace(arguments.data.error.code, "[^A-Za-z0-9_]", "", "all"))>
			</cfif>
			<cfif structKeyExists(arguments.data.error, "message") and isSimpleValue(arguments.data.error.message)>
				<cfset message = arguments.data.error.message>
			</cfif>
		</cfif>
		<cfif not len(code)>
			<cfset code = codeForStatus(arguments.status)>
		</cfif>
		<cfif not len(message)>
			<cfset message = code>
		</cfif>
		<cfif len(arguments.retryAfter)>
			<cfset detail = detail & "; retry after #arguments.retryAfter# s">
		</cfif>
		<cfthrow type="crosstalk.#code#" message="crosstalk: #message#" detail="#detail#"
			errorCode="#code#" extendedInfo="#arguments.body#">
	</cffunction>

	<cffunction name="codeForStatus" access="private" returntype="string" output="false"
		hint="The API's error code for an HTTP status, for an error body without one.">
		<cfargument name="status" type="numeric" required="true" hint="HTTP status">
		<cfset var statuses = "400,401,403,404,405,409,413,415,422,429,503">
		<cfset var i = listFind(statuses, arguments.status)>
		<cfif i>
			<cfreturn listGetAt(variables.ERROR_CODES, i)>
		</cfif>
		<cfif arguments.status gte 500>
			<cfreturn "unavailable">
		</cfif>
		<cfreturn "bad_request">
	</cffunction>

	<cffunction name="originOf" access="private" returntype="string" output="false"
		hint="scheme://host[:port] of a URL.">
		<cfargument name="href" type="string" required="true" hint="an absolute URL">
		<cfreturn reReplace(arguments.href, "^([A-Za-z][A-Za-z0-9+.-]*://[^/?##]+).*$", "\1")>
	</cffunction>

</cfcomponent>
