<!---
	channelHook.cfm - the page a channel hook calls, registered with e.g.
		crosstalkctl channel-hook add app1 'support*' https://app1.example.com/chat/channelHook.cfm
	(or application.chat.addChannelHook(...)), with the secret that prints once in the server's
	environment as CROSSTALK_CHANNEL_HOOK_SECRET. The listener checks the call's signature, asks
	its methods and writes the answer; nothing else may write to this page. Keep the page out
	of the app's login checks and CSRF protection: the hub signs its calls instead.
--->
<cfset hookSecret = "">
<cfif structKeyExists(server.system.environment, "CROSSTALK_CHANNEL_HOOK_SECRET")>
	<cfset hookSecret = server.system.environment["CROSSTALK_CHANNEL_HOOK_SECRET"]>
</cfif>
<!--- without a secret init() throws crosstalk.config: the hub sees a 500, and the hook's fail
      setting decides --->
<cfset listener = createObject("component", "SupportChannelListener").init(secret = hookSecret)>
<cfset listener.handle()>
