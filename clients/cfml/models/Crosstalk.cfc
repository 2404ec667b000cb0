<!---
	Crosstalk.cfc - the crosstalk HTTP API from ColdFusion 10+ and Lucee.

	Plain use:
		ct = createObject("component", "crosstalk.models.Crosstalk").init(
			apiUrl = "https://chat.example.org/api/v1", apiKey = "app1.xxxxxxxx");
		reg = ct.registerSession(userId = "42", displayName = "Ada", ttl = 28800);
		ct.publish(channel = "general", text = "hello", session = reg.session);

	In a ColdBox app the module maps it as "Crosstalk@crosstalk" with its settings (ModuleConfig.cfc).

	Every method returns the API's JSON answer as a struct (keys as the API spells them: lower-case
	snake_case). embed() never calls the hub unless asked to (the browser fetches its ticket from the
	app's ticket URL), and never throws because the hub is down. Anything else that fails throws
	"crosstalk.<code>" for every API error code (crosstalk.unauthorized, crosstalk.invalid, ...),
	"crosstalk.connection" (no answer in time), "crosstalk.protocol" (not crosstalk's JSON; a
	proxy's 502/503/504 page is "crosstalk.unavailable") or "crosstalk.config" (a missing setting):
	<cfcatch type="crosstalk"> catches all of them. Tag-based, no member functions (ColdFusion 10+).
--->
<cfcomponent output="false" hint="crosstalk HTTP API client (plain CFC, and the model of the crosstalk ColdBox module)">

	<cfset variables.VERSION = "0.1.0">
	<cfset variables.settings = structNew()>
	<!--- the widget's URL as the API last handed it out (with a ticket) --->
	<cfset variables.learnedWidgetUrl = "">

	<!--- ======== construction ======== --->

	<cffunction name="init" access="public" returntype="any" output="false" hint="Settings come as one struct (the ColdBox module passes its settings) and/or as named arguments, which win.">
		<cfargument name="settings" type="struct" required="false" default="#structNew()#" hint="any of the keys of defaultSettings()">
		<cfargument name="apiUrl" type="string" required="false" default="" hint="base URL of the API, ending in /api/v1">
		<cfargument name="apiKey" type="string" required="false" default="" hint="this app's API key, app.secret">
		<cfargument name="timeout" type="numeric" required="false" default="0" hint="seconds for one request (long-polls get their wait on top)">
		<!--- beside this file, whatever the package's mapping is called --->
		<cfset var conf = createObject("component", "Settings")>
		<cfset var merged = conf.resolve(arguments.settings, arguments.apiUrl, arguments.apiKey, arguments.timeout)>
		<cfset variables.settings = merged>
		<cfset variables.conf = conf>
		<cfset variables.wire = createObject("component", "Wire")>
		<cfset variables.wire.init(merged)>
		<cfset variables.markup = createObject("component", "Markup")>
		<cfset variables.markup.init(merged)>
		<cfset variables.hooks = createObject("component", "Hooks")>
		<cfset variables.hooks.init(variables.wire)>
		<cfreturn this>
	</cffunction>

	<cffunction name="defaultSettings" access="public" returntype="struct" output="false" hint="The settings and their defaults (Settings.cfc).">
		<cfset var conf = createObject("component", "Settings")>
		<cfreturn conf.defaults()>
	</cffunction>

	<cffunction name="getSettings" access="public" returntype="struct" output="false" hint="A copy of the settings in force (the key included: do not print it).">
		<cfreturn duplicate(variables.settings)>
	</cffunction>

	<cffunction name="getVersion" access="public" returntype="string" output="false" hint="This client's version.">
		<cfreturn variables.VERSION>
	</cffunction>

	<!--- ======== logins ======== --->

	<cffunction name="registerSession" access="public" returntype="struct" output="false" hint="Registers a login of one of this app's users. Returns {ok, session, expires_at, ...}; keep .session with the user's own session (never send CFID/CFTOKEN).">
		<cfargument name="userId" type="string" required="true" hint="the user's id in this app (the hub qualifies it as app/id unless the app shares the family's ids: see .user.id in the answer)">
		<cfargument name="displayName" type="string" required="false" default="" hint="name shown to others (default: the user id; an e-mail address shows only its part before the @ unless allowEmailNames is set)">
		<cfargument name="ttl" type="numeric" required="false" default="0" hint="seconds the login lasts from its last use (0: the defaultTtl setting); match the app's session timeout">
		<cfargument name="avatarUrl" type="string" required="false" default="" hint="an http(s) picture of the user for the directory">
		<cfargument name="title" type="string" required="false" default="" hint="the user's job title for the directory (up to 100 characters)">
		<cfset var fields = structNew()>
		<cfset fields["USER_ID"] = arguments.userId>
		<cfset fields["DISPLAY_NAME"] = displayNameFor(arguments.userId, arguments.displayName)>
		<cfset fields["TTL"] = variables.settings.defaultTtl>
		<cfif arguments.ttl gt 0><cfset fields["TTL"] = arguments.ttl></cfif>
		<cfset putIf(fields, "AVATAR_URL", arguments.avatarUrl)>
		<cfset putIf(fields, "TITLE", arguments.title)>
		<cfreturn send("POST", "sessions", fields, "")>
	</cffunction>

	<cffunction name="endSession" access="public" returntype="struct" output="false" hint="Ends a login: its live chat connections close within a second. Returns {ok, ended}; ended is false for a login that was already over (not an error).">
		<cfargument name="session" type="string" required="true" hint="the ref registerSession returned">
		<cfset var fields = structNew()>
		<cfset fields["SESSION"] = arguments.session>
		<cfreturn send("POST", "sessions/end", fields, "")>
	</cffunction>

	<cffunction name="touchSession" access="public" returntype="struct" output="false" hint="Slides a live login to now + its ttl, as the app's own session slides with activity (call it every few minutes of a user's activity). Returns {ok, session, slid, expires_at, ttl}. Given userId, a login that is over is registered again: then session is the new ref and renewed is true.">
		<cfargument name="session" type="string" required="true" hint="the user's session ref">
		<cfargument name="ttl" type="numeric" required="false" default="0" hint="seconds (0: the login's own ttl)">
		<cfargument name="userId" type="string" required="false" default="" hint="the user, to register again when the login is over">
		<cfargument name="displayName" type="string" required="false" default="" hint="the user's name, for that registration">
		<cfset var fields = structNew()>
		<cfset var reply = structNew()>
		<cfif arguments.ttl gt 0><cfset fields["TTL"] = arguments.ttl></cfif>
		<cftry>
			<cfset reply = send("POST", "sessions/touch", fields, arguments.session, variables.settings.touchTimeout)>
			<cfset reply["renewed"] = false>
			<cfreturn reply>
			<cfcatch type="crosstalk.unauthorized">
				<cfif not len(arguments.userId)><cfrethrow></cfif>
			</cfcatch>
		</cftry>
		<cfset reply = registerSession(arguments.userId, arguments.displayName, arguments.ttl)>
		<cfset reply["slid"] = true>
		<cfset reply["renewed"] = true>
		<cfreturn reply>
	</cffunction>

	<cffunction name="mintTicket" access="public" returntype="struct" output="false" hint="A single-use, short-lived ticket for the user's browser; it also slides the login. Returns {ok, ticket, expires_in, ws_url, widget_url, user, session, renewed}. Given userId, a login that is over (expired, ended) is registered again and the ticket minted for the new one: keep the answer's session.">
		<cfargument name="session" type="string" required="true" hint="the user's session ref">
		<cfargument name="userId" type="string" required="false" default="" hint="the user, to register again when the login is over">
		<cfargument name="displayName" type="string" required="false" default="" hint="the user's name, for that registration">
		<cfargument name="ttl" type="numeric" required="false" default="0" hint="the new login's ttl (0: defaultTtl)">
		<cfset var reply = structNew()>
		<cfset var reg = structNew()>
		<cftry>
			<cfset reply = send("POST", "tickets", structNew(), arguments.session)>
			<cfset reply["session"] = arguments.session>
			<cfset reply["renewed"] = false>
			<cfset learn(reply)>
			<cfreturn reply>
			<cfcatch type="crosstalk.unauthorized">
				<cfif not len(arguments.userId)><cfrethrow></cfif>
			</cfcatch>
		</cftry>
		<cfset reg = registerSession(arguments.userId, arguments.displayName, arguments.ttl)>
		<cfset reply = send("POST", "tickets", structNew(), reg.session)>
		<cfset reply["session"] = reg.session>
		<cfset reply["renewed"] = true>
		<cfset learn(reply)>
		<cfreturn reply>
	</cffunction>

	<!--- ======== messages ======== --->

	<cffunction name="publish" access="public" returntype="struct" output="false" hint="Posts a message. Returns {ok, message}. With a clientId a retry returns the first message instead of posting twice.">
		<cfargument name="channel" type="string" required="true" hint="channel name, or dm:a:b">
		<cfargument name="text" type="string" required="false" default="" hint="up to 4000 characters; empty only with files">
		<cfargument name="session" type="string" required="false" default="" hint="the author's session ref">
		<cfargument name="clientId" type="string" required="false" default="" hint="your id for this message, for safe retries">
		<cfargument name="excludeSender" type="boolean" required="false" default="false" hint="do not echo it to the author's own connections">
		<cfargument name="replyTo" type="string" required="false" default="" hint="the id of a message of the same channel this one answers">
		<cfargument name="files" type="any" required="false" default="" hint="1 to 10 attachment ids from upload() by the same user to this channel: an array or a comma-separated list">
		<cfset var fields = structNew()>
		<cfset var ids = arguments.files>
		<cfif isArray(ids)><cfset ids = arrayToList(ids)></cfif>
		<cfset fields["CHANNEL"] = arguments.channel>
		<cfset fields["TEXT"] = arguments.text>
		<cfset putIf(fields, "CLIENT_ID", arguments.clientId)>
		<cfset putIf(fields, "REPLY_TO", arguments.replyTo)>
		<cfif arguments.excludeSender><cfset fields["EXCLUDE_SENDER"] = "YES"></cfif>
		<cfset putIf(fields, "FILES", ids)>
		<cfreturn send("POST", "messages", fields, arguments.session)>
	</cffunction>

	<cffunction name="upload" access="public" returntype="struct" output="false" hint="Uploads a file for the user to post in a channel (publish with files), as multipart/form-data whatever bodyFormat says. Returns {ok, attachment: {id, name, type, size, channel}}. The hub finds the type from the bytes: a type it does not take is crosstalk.unsupported_media_type, a file over its max_size crosstalk.too_large; a path with no file is crosstalk.invalid, before any request.">
		<cfargument name="channel" type="string" required="true" hint="the channel the file is for; the user must be allowed to post there">
		<cfargument name="filePath" type="string" required="true" hint="absolute path of the file on this server; its name (up to 200 characters) is what others see">
		<cfargument name="session" type="string" required="true" hint="the uploader's session ref">
		<cfargument name="timeout" type="numeric" required="false" default="0" hint="seconds (0: the timeout setting; a large file on a slow link may need more)">
		<cfset var fields = structNew()>
		<cfif not fileExists(arguments.filePath)>
			<cfthrow type="crosstalk.invalid" message="crosstalk: no file to upload at #arguments.filePath#"
				detail="POST attachments: not sent" errorCode="invalid">
		</cfif>
		<cfset fields["CHANNEL"] = arguments.channel>
		<cfreturn send("POST", "attachments", fields, arguments.session, arguments.timeout, arguments.filePath)>
	</cffunction>
	<cffunction name="attachmentUrl" access="public" returntype="struct" output="false" hint="A signed link to an attachment for this user, for an img src or a download link (the file's bytes come from the hub, never through the app). Returns {ok, url, expires_at_ms}; ask again once it expires.">
		<cfargument name="id" type="string" required="true" hint="the attachment's id (message.files[n].id)">
		<cfargument name="session" type="string" required="true" hint="the reader's session ref">
		<cfset var fields = structNew()>
		<cfset fields["ID"] = arguments.id>
		<cfreturn send("GET", "attachments/url", fields, arguments.session)>
	</cffunction>

	<cffunction name="announce" access="public" returntype="struct" output="false" hint="Posts as this app's bot (no user, no session): order updates, system notices, what WsPublish did. Shown as a bot's; the bots of an app share one rate limit. Returns {ok, message}.">
		<cfargument name="channel" type="string" required="true" hint="a named channel the app may use">
		<cfargument name="text" type="string" required="true" hint="1 to 4000 characters">
		<cfargument name="bot" type="string" required="false" default="System" hint="the bot's name, 1 to 64 characters without ':'">
		<cfargument name="clientId" type="string" required="false" default="" hint="your id for this message, for safe retries">
		<cfset var fields = structNew()>
		<cfset fields["CHANNEL"] = arguments.channel>
		<cfset fields["TEXT"] = arguments.text>
		<cfset fields["BOT"] = arguments.bot>
		<cfset putIf(fields, "CLIENT_ID", arguments.clientId)>
		<cfreturn send("POST", "messages", fields, "")>
	</cffunction>
	<cffunction name="react" access="public" returntype="struct" output="false" hint="Adds the user's reaction to a message. Returns {ok, changed, event}.">
		<cfargument name="id" type="string" required="true" hint="the message id">
		<cfargument name="emoji" type="string" required="true" hint="1 to 16 characters without blanks">
		<cfargument name="session" type="string" required="true" hint="the user's session ref">
		<cfset var fields = structNew()>
		<cfset fields["ID"] = arguments.id>
		<cfset fields["EMOJI"] = arguments.emoji>
		<cfreturn send("POST", "messages/react", fields, arguments.session)>
	</cffunction>
	<cffunction name="unreact" access="public" returntype="struct" output="false" hint="Takes the user's reaction back. Returns {ok, changed, event}.">
		<cfargument name="id" type="string" required="true" hint="the message id">
		<cfargument name="emoji" type="string" required="true" hint="the reaction to take back">
		<cfargument name="session" type="string" required="true" hint="the user's session ref">
		<cfset var fields = structNew()>
		<cfset fields["ID"] = arguments.id>
		<cfset fields["EMOJI"] = arguments.emoji>
		<cfreturn send("POST", "messages/unreact", fields, arguments.session)>
	</cffunction>

	<cffunction name="poll" access="public" returntype="struct" output="false" hint="Messages after a seq. Returns {ok, messages, last_seq, has_more}; pass last_seq back as after. With wait > 0 the call waits up to that many seconds for a new message.">
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

	<cffunction name="editMessage" access="public" returntype="struct" output="false" hint="Changes a message's text: the author's session, or no session to moderate with the app key (not in dm: channels). Returns {ok, event}.">
		<cfargument name="id" type="string" required="true" hint="message.id">
		<cfargument name="text" type="string" required="true" hint="the new text">
		<cfargument name="session" type="string" required="false" default="" hint="the author's session ref; empty: moderation">
		<cfset var fields = structNew()>
		<cfset fields["ID"] = arguments.id>
		<cfset fields["TEXT"] = arguments.text>
		<cfreturn send("POST", "messages/edit", fields, arguments.session)>
	</cffunction>
	<cffunction name="deleteMessage" access="public" returntype="struct" output="false" hint="Deletes a message: the author's session, or no session to moderate with the app key (not in dm: channels). Returns {ok, event}.">
		<cfargument name="id" type="string" required="true" hint="message.id">
		<cfargument name="session" type="string" required="false" default="" hint="the author's session ref; empty: moderation">
		<cfset var fields = structNew()>
		<cfset fields["ID"] = arguments.id>
		<cfreturn send("POST", "messages/delete", fields, arguments.session)>
	</cffunction>

	<cffunction name="markRead" access="public" returntype="struct" output="false" hint="Moves the user's read marker in a channel up to seq. Returns {ok, channel, unread}.">
		<cfargument name="channel" type="string" required="true" hint="channel name, or dm:a:b">
		<cfargument name="seq" type="string" required="true" hint="the last seq the user has seen">
		<cfargument name="session" type="string" required="true" hint="the user's session ref">
		<cfset var fields = structNew()>
		<cfset fields["CHANNEL"] = arguments.channel>
		<cfset fields["SEQ"] = arguments.seq>
		<cfreturn send("POST", "messages/read", fields, arguments.session)>
	</cffunction>

	<!--- ======== presence and channels ======== --->

	<cffunction name="getSubscribers" access="public" returntype="struct" output="false" hint="Who is in a channel now, across apps and daemon nodes (GET presence). Returns {ok, channel, users}.">
		<cfargument name="channel" type="string" required="true" hint="channel name">
		<cfargument name="session" type="string" required="false" default="" hint="a session ref, needed for dm: channels">
		<cfset var fields = structNew()>
		<cfset fields["CHANNEL"] = arguments.channel>
		<cfreturn send("GET", "presence", fields, arguments.session)>
	</cffunction>

	<cffunction name="getChannels" access="public" returntype="struct" output="false" hint="Channels this app (or, with a session, this user) may read, with unread counts for a user. Returns {ok, channels}.">
		<cfargument name="session" type="string" required="false" default="" hint="a session ref">
		<cfreturn send("GET", "channels", structNew(), arguments.session)>
	</cffunction>

	<cffunction name="createChannel" access="public" returntype="struct" output="false" hint="Creates a channel. Returns {ok, channel}; throws crosstalk.conflict when it exists.">
		<cfargument name="name" type="string" required="true" hint="[a-z0-9][a-z0-9_.-]{0,63}">
		<cfargument name="title" type="string" required="false" default="" hint="shown in the widget">
		<cfargument name="apps" type="string" required="false" default="" hint="comma-separated app ids that may use it (empty: all apps)">
		<cfargument name="private" type="boolean" required="false" default="false" hint="open to its members only">
		<cfargument name="members" type="string" required="false" default="" hint="a private channel's first members: comma-separated user ids (user.id as the hub shows it)">
		<cfset var fields = structNew()>
		<cfset fields["NAME"] = arguments.name>
		<cfset putIf(fields, "TITLE", arguments.title)>
		<cfset putIf(fields, "APPS", arguments.apps)>
		<cfif arguments.private><cfset fields["PRIVATE"] = "YES"></cfif>
		<cfset putIf(fields, "MEMBERS", arguments.members)>
		<cfreturn send("POST", "channels/create", fields, "")>
	</cffunction>

	<cffunction name="updateChannel" access="public" returntype="struct" output="false" hint="Renames a channel (a new title; the name stays) or archives it (read-only) or unarchives it. Returns {ok, changed, event}.">
		<cfargument name="channel" type="string" required="true" hint="a channel open to this app">
		<cfargument name="title" type="string" required="false" default="" hint="the new title (empty: keep)">
		<cfargument name="archived" type="string" required="false" default="" hint="true or false (empty: keep)">
		<cfset var fields = structNew()>
		<cfset fields["CHANNEL"] = arguments.channel>
		<cfset putIf(fields, "TITLE", arguments.title)>
		<cfset putIf(fields, "ARCHIVED", arguments.archived)>
		<cfreturn send("POST", "channels/update", fields, "")>
	</cffunction>

	<cffunction name="getMembers" access="public" returntype="struct" output="false" hint="A private channel's members: {ok, members: [{id, role, name, app}]}.">
		<cfargument name="channel" type="string" required="true" hint="a private channel">
		<cfargument name="session" type="string" required="false" default="" hint="a member's session ref (empty: the app asks)">
		<cfset var fields = structNew()>
		<cfset fields["CHANNEL"] = arguments.channel>
		<cfreturn send("GET", "channels/members", fields, arguments.session)>
	</cffunction>
	<cffunction name="addMembers" access="public" returntype="struct" output="false" hint="Adds people to a private channel; they see it at once. Returns {ok, channel, changed, event}.">
		<cfargument name="channel" type="string" required="true" hint="a private channel">
		<cfargument name="users" type="string" required="true" hint="comma-separated user ids (user.id as the hub shows it), 1 to 100">
		<cfargument name="session" type="string" required="false" default="" hint="an owner's session ref (empty: the app acts)">
		<cfset var fields = structNew()>
		<cfset fields["CHANNEL"] = arguments.channel>
		<cfset fields["USERS"] = arguments.users>
		<cfreturn send("POST", "channels/members/add", fields, arguments.session)>
	</cffunction>
	<cffunction name="removeMembers" access="public" returntype="struct" output="false" hint="Removes people from a private channel: they lose it at once, connected or not. Returns {ok, channel, changed, event}.">
		<cfargument name="channel" type="string" required="true" hint="a private channel">
		<cfargument name="users" type="string" required="true" hint="comma-separated user ids, 1 to 100">
		<cfargument name="session" type="string" required="false" default="" hint="an owner's session ref, or a member's own to leave (empty: the app acts)">
		<cfset var fields = structNew()>
		<cfset fields["CHANNEL"] = arguments.channel>
		<cfset fields["USERS"] = arguments.users>
		<cfreturn send("POST", "channels/members/remove", fields, arguments.session)>
	</cffunction>

	<cffunction name="getUnread" access="public" returntype="struct" output="false" hint="A user's unread counts per channel, for a badge rendered on the server.">
		<cfargument name="session" type="string" required="true" hint="the user's session ref">
		<cfreturn send("GET", "unread", structNew(), arguments.session)>
	</cffunction>

	<cffunction name="search" access="public" returntype="struct" output="false" hint="Full-text search over every channel the user may read, or one: {ok, results, next}. Each result has message (the event, its current text), rank and highlight: an array of {text, hit} pieces; output each piece's text with encodeForHTML and wrap the hits in mark elements, never the text unescaped. Pass next back as cursor for the next page (absent on the last).">
		<cfargument name="session" type="string" required="true" hint="the searcher's session ref">
		<cfargument name="q" type="string" required="true" hint="words (all must match), a quoted phrase, -word, or: 1 to 200 characters">
		<cfargument name="channel" type="string" required="false" default="" hint="only this channel">
		<cfargument name="cursor" type="string" required="false" default="" hint="the next of the page before">
		<cfargument name="limit" type="numeric" required="false" default="20" hint="1 to 50">
		<cfset var fields = structNew()>
		<cfset fields["Q"] = arguments.q>
		<cfset fields["CHANNEL"] = arguments.channel>
		<cfset fields["CURSOR"] = arguments.cursor>
		<cfset fields["LIMIT"] = arguments.limit>
		<cfreturn send("GET", "messages/search", fields, arguments.session)>
	</cffunction>

	<cffunction name="users" access="public" returntype="struct" output="false" hint="The directory: everyone the hub has seen in the apps this one shares a channel with, online or not, found by the start of a name, a word of it or an id. Returns {ok, users, next}; each user has app, id (the hub's id: use it for dm channel names), name, online, last_seen, and avatar_url and title when known. Pass next back as cursor for the next page.">
		<cfargument name="session" type="string" required="false" default="" hint="the asking user's session ref (empty: the app itself asks)">
		<cfargument name="q" type="string" required="false" default="" hint="the start of a name or id, up to 100 characters (empty: everyone)">
		<cfargument name="cursor" type="string" required="false" default="" hint="the next of the page before">
		<cfargument name="limit" type="numeric" required="false" default="20" hint="1 to 50">
		<cfset var fields = structNew()>
		<cfset fields["Q"] = arguments.q>
		<cfset fields["CURSOR"] = arguments.cursor>
		<cfset fields["LIMIT"] = arguments.limit>
		<cfreturn send("GET", "users", fields, arguments.session)>
	</cffunction>
	<cffunction name="getMentions" access="public" returntype="struct" output="false" hint="Messages that mention the user, newest first: {ok, mentions: [{message, unread}], next}; e-mail the ones still unread to a user who was away. Pass next back as cursor for the next page.">
		<cfargument name="session" type="string" required="true" hint="the user's session ref">
		<cfargument name="cursor" type="string" required="false" default="" hint="the next of the page before">
		<cfargument name="limit" type="numeric" required="false" default="20" hint="1 to 50">
		<cfset var fields = structNew()>
		<cfset fields["CURSOR"] = arguments.cursor>
		<cfset fields["LIMIT"] = arguments.limit>
		<cfreturn send("GET", "mentions", fields, arguments.session)>
	</cffunction>

	<!--- ======== hooks (Hooks.cfc makes the calls) ======== --->

	<cffunction name="addChannelHook" access="public" returntype="struct" output="false" hint="Registers a channel hook: before a user's publish or subscribe on the channels pattern names, the hub POSTs to url and waits for allow, deny or a new text (ChannelListener.cfc answers). Returns {ok, hook: {id, pattern, url, events, timeout_ms, fail}, secret}: the secret is in this answer only (ChannelListener's init). One hook a pattern (crosstalk.conflict).">
		<cfargument name="pattern" type="string" required="true" hint="a channel name, a prefix ending in * (support*), or * for every channel">
		<cfargument name="url" type="string" required="true" hint="the http(s) page that calls handle()">
		<cfargument name="events" type="any" required="false" default="" hint="publish, subscribe or both: an array or a comma-separated list (empty: both)">
		<cfargument name="timeoutMs" type="numeric" required="false" default="0" hint="milliseconds the hub waits, 50 to 30000 (0: the hub's 2000)">
		<cfargument name="fail" type="string" required="false" default="" hint="open (a hook that fails or times out lets the request through; the hub's default) or closed (refused as unavailable)">
		<cfreturn variables.hooks.addChannelHook(argumentCollection = arguments)>
	</cffunction>
	<cffunction name="getChannelHooks" access="public" returntype="struct" output="false" hint="This app's channel hooks, never their secrets: {ok, hooks: [{id, pattern, url, events, timeout_ms, fail}]}.">
		<cfreturn variables.hooks.getChannelHooks()>
	</cffunction>
	<cffunction name="removeChannelHook" access="public" returntype="struct" output="false" hint="Removes one of this app's channel hooks (the daemons stop asking it within 5 s). Returns {ok, removed}; removed is false for a hook that was not there.">
		<cfargument name="id" type="string" required="true" hint="hook.id from addChannelHook or getChannelHooks">
		<cfreturn variables.hooks.removeChannelHook(arguments.id)>
	</cffunction>

	<cffunction name="addWebhook" access="public" returntype="struct" output="false" hint="Registers a webhook: the hub POSTs each event of those kinds to url, signed, at least once (WebhookReceiver.cfc receives them). Returns {ok, hook: {id, url, events}, secret}: the secret is in this answer only (WebhookReceiver's init).">
		<cfargument name="url" type="string" required="true" hint="the http(s) page that calls handle(), at most 500 characters">
		<cfargument name="events" type="any" required="false" default="" hint="message, mention, member, session: an array or a comma-separated list (empty: message)">
		<cfreturn variables.hooks.addWebhook(argumentCollection = arguments)>
	</cffunction>
	<cffunction name="getWebhooks" access="public" returntype="struct" output="false" hint="This app's webhooks, never their secrets: {ok, hooks: [{id, url, events, pending, parked}]} (deliveries waiting, and given up on after every retry).">
		<cfreturn variables.hooks.getWebhooks()>
	</cffunction>
	<cffunction name="removeWebhook" access="public" returntype="struct" output="false" hint="Removes one of this app's webhooks, and the deliveries it still had to make. Returns {ok, removed}; removed is false for a hook that was not there.">
		<cfargument name="id" type="string" required="true" hint="hook.id from addWebhook or getWebhooks">
		<cfreturn variables.hooks.removeWebhook(arguments.id)>
	</cffunction>

	<cffunction name="health" access="public" returntype="boolean" output="false" hint="True when the API and its database answer; never throws.">
		<cfset var reply = structNew()>
		<cftry>
			<cfset reply = send("GET", "health", structNew(), "")>
			<cfreturn structKeyExists(reply, "ok") and isBoolean(reply.ok) and reply.ok>
			<cfcatch type="crosstalk">
				<cfreturn false>
			</cfcatch>
		</cftry>
	</cffunction>

	<!--- ======== the browser side ======== --->

	<cffunction name="embed" access="public" returntype="string" output="false" hint="HTML that loads crosstalk-embed.js (async) from the chat origin and mounts the chat widget. By default it calls nothing: the page is served at once and the browser fetches its ticket from ticketUrl, so a hub that is down or slow never holds the page up (the widget says chat is unavailable and retries). With mint (or the embedMint setting) a first ticket is minted here, waiting at most embedMintTimeout seconds; if that fails the page goes on without it. Never throws because of the hub. Output it unescaped; do not cache it when it carries a ticket.">
		<cfargument name="session" type="string" required="false" default="" hint="the user's session ref (needed only to mint here)">
		<cfargument name="channel" type="string" required="false" default="" hint="channel to open first">
		<cfargument name="height" type="string" required="false" default="" hint="fixed height in pixels (default: the embedHeight setting; empty: follows the content)">
		<cfargument name="ticketUrl" type="string" required="false" default="" hint="a URL of this app that answers POST with {ticket} for the logged-in user; the widget signs in (and again after a reconnect or a long sleep) with what it answers">
		<cfargument name="elementId" type="string" required="false" default="" hint="id of the container div (default: generated)">
		<cfargument name="cssClass" type="string" required="false" default="crosstalk-chat" hint="class of the container div">
		<cfargument name="title" type="string" required="false" default="Chat" hint="the iframe's accessible title">
		<cfargument name="mint" type="string" required="false" default="" hint="true: mint the first ticket on the server; empty: the embedMint setting (always true without a ticketUrl)">
		<cfset var minted = structNew()>
		<cfset var widgetUrl = variables.settings.widgetUrl>
		<cfset var boxId = arguments.elementId>
		<cfset var ticket = "">
		<cfset var serverMint = variables.settings.embedMint>
		<cfif isBoolean(arguments.mint)>
			<cfset serverMint = arguments.mint>
		</cfif>
		<cfif not len(arguments.ticketUrl)>
			<!--- without a ticket URL the page's ticket is the only way in --->
			<cfset serverMint = true>
		</cfif>
		<cfif not len(widgetUrl)>
			<cfset widgetUrl = variables.learnedWidgetUrl>
		</cfif>
		<cfif (serverMint or not len(widgetUrl)) and len(arguments.session)>
			<cfset minted = mintQuietly(arguments.session)>
			<cfif not len(widgetUrl) and structKeyExists(minted, "widget_url")>
				<cfset widgetUrl = minted.widget_url>
			</cfif>
		</cfif>
		<cfif not len(boxId)>
			<cfset boxId = "crosstalk-" & lCase(left(replace(createUUID(), "-", "", "all"), 12))>
		</cfif>
		<cfif not len(widgetUrl) or (not len(arguments.ticketUrl) and not structKeyExists(minted, "ticket"))>
			<!--- the hub did not answer and nothing says where the widget is, or how to sign in:
			      the page goes on with a line in the chat's place --->
			<cfreturn variables.markup.unavailable(boxId, arguments.cssClass)>
		</cfif>
		<cfif serverMint and structKeyExists(minted, "ticket")>
			<cfset ticket = minted.ticket>
		</cfif>
		<cfreturn variables.markup.mount(boxId, arguments.cssClass, variables.markup.embedAttrs(boxId, arguments.channel,
			arguments.height, arguments.title, ticket, arguments.ticketUrl, widgetUrl), widgetUrl)>
	</cffunction>

	<cffunction name="mintQuietly" access="private" returntype="struct" output="false" hint="A ticket minted for embed(), waiting at most embedMintTimeout seconds; an empty struct when the hub does not give one in time (logged, never thrown).">
		<cfargument name="session" type="string" required="true" hint="the user's session ref">
		<cfset var reply = structNew()>
		<cftry>
			<cfset reply = send("POST", "tickets", structNew(), arguments.session, variables.settings.embedMintTimeout)>
			<cfset learn(reply)>
			<cfcatch type="crosstalk">
				<cflog type="warning" file="crosstalk" text="embed(): no ticket (#cfcatch.type#: #cfcatch.message#); the page goes on without one">
				<cfset reply = structNew()>
			</cfcatch>
		</cftry>
		<cfreturn reply>
	</cffunction>

	<cffunction name="learn" access="private" returntype="void" output="false" hint="Remembers where the API says the widget is, so that embed() need not ask again.">
		<cfargument name="reply" type="struct" required="true" hint="a tickets answer">
		<cfif structKeyExists(arguments.reply, "widget_url") and isSimpleValue(arguments.reply.widget_url)
			and len(arguments.reply.widget_url)>
			<cfset variables.learnedWidgetUrl = arguments.reply.widget_url>
		</cfif>
	</cffunction>

	<cffunction name="displayNameFor" access="public" returntype="string" output="false" hint="The name others see: displayName, else the user id; an e-mail address only by its part before the @ (unless allowEmailNames), so that addresses are not shown to every app's users.">
		<cfargument name="userId" type="string" required="true" hint="the user's id">
		<cfargument name="displayName" type="string" required="false" default="" hint="the name the app has for the user">
		<cfreturn variables.conf.displayName(variables.settings, arguments.userId, arguments.displayName)>
	</cffunction>

	<!--- ======== the wire (Wire.cfc) ======== --->

	<cffunction name="send" access="public" returntype="struct" output="false" hint="One API call: METHOD path with fields (upper-case names). Returns the parsed answer or throws crosstalk.*. Public so that endpoints without a method of their own can be called.">
		<cfargument name="method" type="string" required="true" hint="GET or POST">
		<cfargument name="path" type="string" required="true" hint="path under /api/v1, e.g. messages/poll">
		<cfargument name="fields" type="struct" required="false" default="#structNew()#" hint="request fields">
		<cfargument name="session" type="string" required="false" default="" hint="session ref, sent as X-Crosstalk-Session">
		<cfargument name="timeout" type="numeric" required="false" default="0" hint="seconds (0: the timeout setting)">
		<cfargument name="file" type="string" required="false" default="" hint="a POST's file (a path on this server): the body is then multipart/form-data, the fields before the FILE part">
		<cfreturn variables.wire.call(arguments.method, arguments.path, arguments.fields, arguments.session, arguments.timeout, arguments.file)>
	</cffunction>

	<cffunction name="putIf" access="private" returntype="void" output="false" hint="s[key] = value, unless value is empty">
		<cfargument name="s" type="struct" required="true" hint="the request's fields">
		<cfargument name="key" type="string" required="true" hint="the field's name"><cfargument name="value" type="string" required="true" hint="its value">
		<cfif len(arguments.value)><cfset arguments["s"][arguments.key] = arguments.value></cfif>
	</cffunction>

</cfcomponent>
