<!---
	Settings.cfc - the settings of Crosstalk.cfc: their defaults, and the settings in force made from
	a struct (the ColdBox module's) and init()'s named arguments, with every value out of range
	replaced by its default; and the display name allowEmailNames allows. Pure functions;
	tag-based, no member functions (ColdFusion 10 and later engines).
--->
<cfcomponent output="false" hint="crosstalk: the client's settings and their defaults">

	<cffunction name="resolve" access="public" returntype="struct" output="false" hint="The settings in force: the defaults, then what settings has of them, then the named arguments that are given; normalised.">
		<cfargument name="settings" type="struct" required="true" hint="any of the keys of defaults()">
		<cfargument name="apiUrl" type="string" required="true" hint="base URL of the API (empty: from settings)">
		<cfargument name="apiKey" type="string" required="true" hint="this app's API key (empty: from settings)">
		<cfargument name="timeout" type="numeric" required="true" hint="seconds for one request (0: from settings)">
		<cfset var key = "">
		<cfset var merged = defaults()>
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
		<cfreturn normalised(merged)>
	</cffunction>

	<cffunction name="defaults" access="public" returntype="struct" output="false" hint="The settings and their defaults.">
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
		<!--- where the widget is, e.g. https://chat.example.org/widget (what the API hands out with
		      each ticket, [http] public_widget_url): set it, and embed() never has to ask the hub --->
		<cfset s["widgetUrl"] = "">
		<!--- overrides where embed() loads crosstalk-embed.js from (default: the widget's origin) --->
		<cfset s["embedScriptUrl"] = "">
		<!--- fixed widget height in pixels for embed(); empty: the widget sizes itself --->
		<cfset s["embedHeight"] = "">
		<!--- embed() mints the first ticket on the server (true), or leaves it to the
		      browser and the app's ticket URL (false: the page never waits for the hub) --->
		<cfset s["embedMint"] = false>
		<!--- seconds a server-side mint in embed() may take before the page goes on without it --->
		<cfset s["embedMintTimeout"] = 2>
		<!--- seconds touchSession() may take (it runs on ordinary page views) --->
		<cfset s["touchTimeout"] = 2>
		<!--- show an e-mail address as a display name (false: only the part before the @) --->
		<cfset s["allowEmailNames"] = false>
		<cfreturn s>
	</cffunction>

	<cffunction name="displayName" access="public" returntype="string" output="false" hint="The name others see: displayName, else the user id; an e-mail address only by its part before the @ unless the allowEmailNames setting says otherwise.">
		<cfargument name="settings" type="struct" required="true" hint="the settings in force (resolve())">
		<cfargument name="userId" type="string" required="true" hint="the user's id">
		<cfargument name="displayName" type="string" required="true" hint="the name the app has for the user">
		<cfset var name = trim(arguments.displayName)>
		<cfif not len(name)>
			<cfset name = arguments.userId>
		</cfif>
		<cfif not arguments.settings.allowEmailNames and reFind("^[^@\s]+@[^@\s]+\.[^@\s]+$", name)>
			<cfset name = listFirst(name, "@")>
		</cfif>
		<cfreturn name>
	</cffunction>

	<cffunction name="normalised" access="private" returntype="struct" output="false" hint="The settings with blanks trimmed and every value out of range replaced by its default.">
		<cfargument name="given" type="struct" required="true" hint="defaults merged with what Crosstalk.cfc's init() got">
		<cfset var s = arguments.given>
		<cfset var fallback = defaults()>
		<cfset var key = "">
		<cfset s["apiUrl"] = reReplace(trim(s.apiUrl), "/+$", "")>
		<cfset s["apiKey"] = trim(s.apiKey)>
		<!--- seconds: a positive number (pollGrace may be 0) --->
		<cfloop list="timeout,embedMintTimeout,touchTimeout,pollGrace" index="key">
			<cfif not isNumeric(s[key]) or (s[key] lt 1 and not (key is "pollGrace" and s[key] eq 0))>
				<cfset s[key] = fallback[key]>
			</cfif>
		</cfloop>
		<cfloop list="embedMint,allowEmailNames" index="key">
			<cfif not isBoolean(s[key])>
				<cfset s[key] = fallback[key]>
			</cfif>
		</cfloop>
		<cfif not listFindNoCase("form,json", s.bodyFormat)>
			<cfset s["bodyFormat"] = "form">
		</cfif>
		<cfreturn s>
	</cffunction>

</cfcomponent>
