<!---
	SupportChannelListener.cfc - an example channel hook for the support* channels: no links (the
	author is told why), a word masked, one read-only channel. Copy it into your app; extends
	names the package through its mapping (/crosstalk here: use yours).
--->
<cfcomponent extends="crosstalk.models.ChannelListener" output="false" hint="example: the support channels' rules">

	<cffunction name="allowPublish" access="public" returntype="boolean" output="false" hint="Only the support team posts in support-news.">
		<cfargument name="publisherInfo" type="struct" required="true" hint="channel, app, userId, userName, clientId, connectionInfo">
		<cfif arguments.publisherInfo.channel is "support-news" and arguments.publisherInfo.app neq "helpdesk">
			<cfset deny("support-news is read-only: ask in ##support.")>
		</cfif>
		<cfreturn true>
	</cffunction>

	<cffunction name="beforePublish" access="public" returntype="any" output="false" hint="No links; darn shown as d**n.">
		<cfargument name="message" type="any" required="true" hint="the text">
		<cfargument name="publisherInfo" type="struct" required="true" hint="as for allowPublish">
		<cfif reFindNoCase("https?://|www\.", arguments.message)>
			<cfset deny("No links in ###arguments.publisherInfo.channel#, please.")>
		</cfif>
		<cfreturn reReplaceNoCase(arguments.message, "\bdarn\b", "d**n", "all")>
	</cffunction>

</cfcomponent>
