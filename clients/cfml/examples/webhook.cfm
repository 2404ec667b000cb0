<!---
	webhook.cfm - the page a webhook delivers to, registered once with e.g.
		application.chat.addWebhook(url = "https://app1.example.com/chat/webhook.cfm", events = "mention")
	(or crosstalkctl hook add app1 https://app1.example.com/chat/webhook.cfm --events mention), with
	the secret that answer gave, here in the server's environment as CROSSTALK_WEBHOOK_SECRET. The
	receiver checks the delivery's signature, hands it to its methods and answers; nothing else
	may write to this page. Keep the page out of the app's login checks and CSRF protection: the
	hub signs its deliveries instead.
--->
<cfset hookSecret = "">
<cfif structKeyExists(server.system.environment, "CROSSTALK_WEBHOOK_SECRET")>
	<cfset hookSecret = server.system.environment["CROSSTALK_WEBHOOK_SECRET"]>
</cfif>
<!--- without a secret init() throws crosstalk.config: the hub sees a 500 and tries again later --->
<!--- the delivery ids handled, so that a repeat mails no one twice --->
<cfif not structKeyExists(application, "crosstalkDeliveries")>
	<cflock scope="application" type="exclusive" timeout="5">
		<cfif not structKeyExists(application, "crosstalkDeliveries")>
			<cfset application["crosstalkDeliveries"] = structNew()>
		</cfif>
	</cflock>
</cfif>
<cfset receiver = createObject("component", "MentionMailer").init(secret = hookSecret, seen = application.crosstalkDeliveries)>
<cfset receiver.handle()>
