<!---
	Wire.cfc - one call of the crosstalk HTTP API with the cfhttp tag, and its answer:
	the parsed JSON struct, or a typed exception ("crosstalk.<code>" for every
	API error code, "crosstalk.connection" for no answer, "crosstalk.protocol"
	for an answer that is not crosstalk's JSON; a proxy's own 502/503/504 page
	is "crosstalk.unavailable", since the hub behind it is what is missing).

	Used by Crosstalk.cfc, which holds the settings; tag-based, no member
	functions, so that it runs on ColdFusion 10 as well as on later engines.
--->
<cfcomponent output="false" hint="crosstalk HTTP API: one cfhttp call and its answer">

	<cfset variables.ERROR_CODES = "bad_request,unauthorized,forbidden,not_found,method_not_allowed,conflict,too_large,unsupported_media_type,invalid,rate_limited,unavailable">
	<cfset variables.settings = structNew()>

	<cffunction name="init" access="public" returntype="any" output="false" hint="settings: Crosstalk.cfc's, normalised">
		<cfargument name="settings" type="struct" required="true" hint="apiUrl, apiKey, timeout, bodyFormat, userAgent">
		<cfset variables.settings = arguments.settings>
		<cfreturn this>
	</cffunction>

	<cffunction name="call" access="public" returntype="struct" output="false"
		hint="One API call: METHOD path with fields (upper-case names). Returns the parsed answer or throws crosstalk.*.">
		<cfargument name="method" type="string" required="true" hint="GET or POST">
		<cfargument name="path" type="string" required="true" hint="path under /api/v1, e.g. messages/poll">
		<cfargument name="fields" type="struct" required="false" default="#structNew()#" hint="request fields">
		<cfargument name="session" type="string" required="false" default="" hint="session ref, sent as X-Crosstalk-Session">
		<cfargument name="timeout" type="numeric" required="false" default="0" hint="seconds (0: the timeout setting)">
		<cfargument name="file" type="string" required="false" default="" hint="a POST's file: the path of a file on this server, sent as the FILE part of a multipart/form-data body">
		<cfset var res = structNew()>
		<cfset var key = "">
		<cfset var verb = uCase(arguments.method)>
		<cfset var seconds = arguments.timeout>
		<cfset var target = variables.settings.apiUrl & "/" & arguments.path>
		<cfset var asJson = variables.settings.bodyFormat is "json" and verb is "POST" and not len(arguments.file)>
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
				<cfif len(arguments.file)>
					<!--- makes the body multipart/form-data; after the fields, which the hub reads first --->
					<cfhttpparam type="file" name="FILE" file="#arguments.file#">
				</cfif>
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
		<cfif (not isStruct(data) or not structKeyExists(data, "ok")) and listFind("502,503,504", status)>
			<!--- a proxy's own page: the hub is not reachable behind it; retry later --->
			<cfthrow type="crosstalk.unavailable" message="crosstalk: #arguments.what# answered HTTP #status# from a proxy: the hub is unavailable"
				detail="#arguments.what#: HTTP #status#" errorCode="unavailable" extendedInfo="#left(body, 300)#">
		</cfif>
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

</cfcomponent>
