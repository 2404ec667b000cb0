<!---
	Markup.cfc - the HTML embed() writes into a page: a container div and one async script
	element that loads crosstalk-embed.js from the chat's origin (no inline script: it fits a
	strict Content-Security-Policy), or a line saying chat is unavailable. Pure functions of
	their arguments and the settings; used by Crosstalk.cfc, which decides what to write.
	Tag-based, no member functions (ColdFusion 10 and later engines).
--->
<cfcomponent output="false" hint="crosstalk: the page markup that mounts the chat widget">

	<cfset variables.settings = structNew()>

	<cffunction name="init" access="public" returntype="any" output="false" hint="settings: Crosstalk.cfc's, normalised">
		<cfargument name="settings" type="struct" required="true" hint="embedHeight, embedScriptUrl">
		<cfset variables.settings = arguments.settings>
		<cfreturn this>
	</cffunction>

	<cffunction name="unavailable" access="public" returntype="string" output="false"
		hint="What embed() writes when the hub did not answer and nothing says where the widget is or how to sign in: a line in the chat's place.">
		<cfargument name="boxId" type="string" required="true" hint="the container's id">
		<cfargument name="cssClass" type="string" required="true" hint="the container's class">
		<cfreturn '<div id="' & encodeForHTMLAttribute(arguments.boxId) & '" class="' & encodeForHTMLAttribute(arguments.cssClass)
			& ' crosstalk-unavailable" role="status">Chat is unavailable right now.</div>' & chr(10)>
	</cffunction>

	<cffunction name="mount" access="public" returntype="string" output="false"
		hint="The container div and the one script element that mounts the widget into it.">
		<cfargument name="boxId" type="string" required="true" hint="the container's id">
		<cfargument name="cssClass" type="string" required="true" hint="the container's class">
		<cfargument name="attrs" type="struct" required="true" hint="embedAttrs()">
		<cfargument name="widgetUrl" type="string" required="true" hint="the widget's URL">
		<cfreturn '<div id="' & encodeForHTMLAttribute(arguments.boxId) & '" class="' & encodeForHTMLAttribute(arguments.cssClass) & '"></div>' & chr(10)
			& scriptTag(arguments.attrs, scriptUrlFor(arguments.widgetUrl))>
	</cffunction>

	<cffunction name="embedAttrs" access="public" returntype="struct" output="false"
		hint="The data-* attributes of embed()'s script element.">
		<cfargument name="boxId" type="string" required="true" hint="the container's id">
		<cfargument name="channel" type="string" required="true" hint="channel to open first, or empty">
		<cfargument name="height" type="string" required="true" hint="fixed height, or empty">
		<cfargument name="title" type="string" required="true" hint="the iframe's title">
		<cfargument name="ticket" type="string" required="true" hint="a first ticket, or empty">
		<cfargument name="ticketUrl" type="string" required="true" hint="the app's ticket URL, or empty">
		<cfargument name="widgetUrl" type="string" required="true" hint="the widget's URL">
		<cfset var attrs = structNew()>
		<cfset var fixedHeight = arguments.height>
		<cfif not len(fixedHeight)>
			<cfset fixedHeight = variables.settings.embedHeight>
		</cfif>
		<cfset attrs["data-target"] = "##" & arguments.boxId>
		<cfset attrs["data-title"] = arguments.title>
		<cfif len(arguments.ticket)><cfset attrs["data-ticket"] = arguments.ticket></cfif>
		<cfif len(arguments.channel)><cfset attrs["data-channel"] = arguments.channel></cfif>
		<cfif len(fixedHeight)>
			<cfset attrs["data-height"] = val(fixedHeight)>
		</cfif>
		<cfif len(arguments.ticketUrl)><cfset attrs["data-ticket-url"] = arguments.ticketUrl></cfif>
		<cfif arguments.widgetUrl is not (originOf(scriptUrlFor(arguments.widgetUrl)) & "/widget")>
			<!--- the widget lives elsewhere than beside the script --->
			<cfset attrs["data-widget-url"] = arguments.widgetUrl>
		</cfif>
		<cfreturn attrs>
	</cffunction>

	<cffunction name="scriptUrlFor" access="public" returntype="string" output="false"
		hint="Where crosstalk-embed.js is: the embedScriptUrl setting, else beside the widget.">
		<cfargument name="widgetUrl" type="string" required="true" hint="the widget's URL">
		<cfif len(variables.settings.embedScriptUrl)>
			<cfreturn variables.settings.embedScriptUrl>
		</cfif>
		<cfreturn originOf(arguments.widgetUrl) & "/crosstalk-embed.js">
	</cffunction>

	<cffunction name="scriptTag" access="public" returntype="string" output="false"
		hint="The one script element that loads crosstalk-embed.js and mounts the widget: async (a slow hub never holds up the page), no inline script (fits a strict Content-Security-Policy).">
		<cfargument name="attrs" type="struct" required="true" hint="the data-* values embed() collected">
		<cfargument name="scriptUrl" type="string" required="true" hint="where crosstalk-embed.js is">
		<cfset var html = '<script async src="' & encodeForHTMLAttribute(arguments.scriptUrl) & '"'>
		<cfset var key = "">
		<cfloop list="data-target,data-channel,data-ticket,data-ticket-url,data-widget-url,data-height,data-title" index="key">
			<cfif structKeyExists(arguments.attrs, key)>
				<cfset html = html & " " & key & '="' & encodeForHTMLAttribute(arguments.attrs[key]) & '"'>
			</cfif>
		</cfloop>
		<cfreturn html & '></script>' & chr(10)>
	</cffunction>

	<cffunction name="originOf" access="public" returntype="string" output="false"
		hint="scheme://host[:port] of a URL.">
		<cfargument name="href" type="string" required="true" hint="an absolute URL">
		<cfreturn reReplace(arguments.href, "^([A-Za-z][A-Za-z0-9+.-]*://[^/?##]+).*$", "\1")>
	</cffunction>

</cfcomponent>
