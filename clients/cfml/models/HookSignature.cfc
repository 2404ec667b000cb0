<!---
	HookSignature.cfc - the hub's signature on what it sends to an app's hooks: a webhook's
	delivery (WebhookReceiver.cfc) and a channel hook's call (ChannelListener.cfc) are signed alike.
	X-Crosstalk-Signature is v1= and the hex HMAC-SHA256, with the hook's secret, of
	X-Crosstalk-Timestamp (unix seconds), "." and the raw body; a timestamp more than maxSkew
	seconds away from this server's clock is refused (a recorded request sent again). The compare
	takes constant time. Tag-based, no member functions (ColdFusion 10 and later engines).
--->
<cfcomponent output="false" hint="crosstalk: checks the hub's signature on a call to one of the app's hooks">

	<cfset variables.secret = "">
	<cfset variables.maxSkew = 300>

	<cffunction name="init" access="public" returntype="any" output="false" hint="secret: the hook's, as the hub answered it once when the hook was added.">
		<cfargument name="secret" type="string" required="true" hint="the hook's secret (whsec_... or chsec_...)">
		<cfargument name="maxSkew" type="numeric" required="false" default="300" hint="seconds a call's timestamp may be away from this server's clock">
		<cfif not len(trim(arguments.secret))>
			<!--- an empty key would make any signature anyone computes a valid one --->
			<cfthrow type="crosstalk.config" message="crosstalk: a hook's signature needs the hook's secret">
		</cfif>
		<cfset variables.secret = trim(arguments.secret)>
		<cfif arguments.maxSkew gt 0>
			<cfset variables.maxSkew = arguments.maxSkew>
		</cfif>
		<cfreturn this>
	</cffunction>

	<cffunction name="verified" access="public" returntype="boolean" output="false" hint="True when X-Crosstalk-Signature is v1=hex(HMAC-SHA256(secret, timestamp & '.' & body)) and X-Crosstalk-Timestamp is within maxSkew seconds of now.">
		<cfargument name="headers" type="struct" required="true" hint="the request's headers (getHttpRequestData().headers)">
		<cfargument name="body" type="string" required="true" hint="the raw body, as sent">
		<cfset var ts = headerOf(arguments.headers, "X-Crosstalk-Timestamp")>
		<cfset var given = headerOf(arguments.headers, "X-Crosstalk-Signature")>
		<cfset var want = "">
		<cfif not reFind("^[0-9]{1,12}$", ts) or not len(given)>
			<cfreturn false>
		</cfif>
		<cfif abs(epochNow() - ts) gt variables.maxSkew>
			<cfreturn false>
		</cfif>
		<cfset want = "v1=" & lCase(hmac(ts & "." & arguments.body, variables.secret, "HmacSHA256", "utf-8"))>
		<cfreturn sameText(want, given)>
	</cffunction>

	<cffunction name="headerOf" access="private" returntype="string" output="false" hint="A request header's value, or an empty string.">
		<cfargument name="headers" type="struct" required="true" hint="the request's headers">
		<cfargument name="name" type="string" required="true" hint="the header's name (any case)">
		<cfif structKeyExists(arguments.headers, arguments.name) and isSimpleValue(arguments.headers[arguments.name])>
			<cfreturn trim(arguments.headers[arguments.name])>
		</cfif>
		<cfreturn "">
	</cffunction>

	<cffunction name="epochNow" access="private" returntype="numeric" output="false" hint="Unix seconds now.">
		<cfreturn dateDiff("s", createDateTime(1970, 1, 1, 0, 0, 0), dateConvert("local2utc", now()))>
	</cffunction>

	<cffunction name="sameText" access="private" returntype="boolean" output="false" hint="a equals b, compared in constant time (Java's MessageDigest.isEqual; compare() where Java objects are not allowed).">
		<cfargument name="a" type="string" required="true" hint="what is wanted">
		<cfargument name="b" type="string" required="true" hint="what was given">
		<cfset var digest = "">
		<cftry>
			<cfset digest = createObject("java", "java.security.MessageDigest")>
			<cfreturn digest.isEqual(charsetDecode(arguments.a, "utf-8"), charsetDecode(arguments.b, "utf-8"))>
			<cfcatch type="any">
				<cfreturn compare(arguments.a, arguments.b) eq 0>
			</cfcatch>
		</cftry>
	</cffunction>

</cfcomponent>
