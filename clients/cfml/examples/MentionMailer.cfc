<!---
	MentionMailer.cfc - an example webhook receiver: a user mentioned while away (no open chat
	connection) gets an e-mail, once, however often the hub delivers the event. Copy it into your
	app; extends names the package through its mapping (/crosstalk here: use yours). Register it
	with events = "mention" (webhook.cfm beside it is its page).
--->
<cfcomponent extends="crosstalk.models.WebhookReceiver" output="false" hint="example: e-mails the users mentioned while they were away">

	<!--- delivery ids handled: a struct the page keeps in the application scope (a table keyed by
	      the id where several servers receive) --->
	<cfset variables.seen = structNew()>

	<cffunction name="init" access="public" returntype="any" output="false" hint="secret: the hook's; seen: the struct of handled delivery ids, which outlives this request.">
		<cfargument name="secret" type="string" required="true" hint="the hook's secret (whsec_...)">
		<cfargument name="seen" type="struct" required="true" hint="application.crosstalkDeliveries, say">
		<cfset variables.seen = arguments.seen>
		<cfreturn super.init(arguments.secret)>
	</cffunction>

	<cffunction name="onMention" access="public" returntype="void" output="false" hint="E-mails the user mentioned, unless this delivery was handled before.">
		<cfargument name="event" type="struct" required="true" hint="the delivery: user {id, name}, event (the message)">
		<cfset var message = arguments.event.event>
		<cfif seenBefore(arguments.event.id)>
			<!--- a repeat (the hub did not get our last answer): already mailed --->
			<cfreturn>
		</cfif>
		<cfset sendMail(arguments.event.user.id, message.user.name & " mentioned you in ##" & message.channel, message.text)>
		<cfset remember(arguments.event.id)>
	</cffunction>

	<cffunction name="sendMail" access="private" returntype="void" output="false" hint="The stub that stands for the app's mailer: it logs what it would send. Put a cfmail here (it spools, so the hub's answer does not wait for the mail server) with the address the app has for userId.">
		<cfargument name="userId" type="string" required="true" hint="the hub's user.id of the person mentioned">
		<cfargument name="subject" type="string" required="true" hint="the mail's subject">
		<cfargument name="text" type="string" required="true" hint="the message">
		<cflog file="crosstalk-mentions" type="information" text="mail to #arguments.userId#: #arguments.subject#: #left(arguments.text, 200)#">
	</cffunction>

	<cffunction name="seenBefore" access="private" returntype="boolean" output="false" hint="Was this delivery handled already?">
		<cfargument name="id" type="string" required="true" hint="the delivery's id (X-Crosstalk-Id)">
		<cflock name="crosstalk-deliveries" type="readonly" timeout="5">
			<cfreturn structKeyExists(variables.seen, arguments.id)>
		</cflock>
	</cffunction>

	<cffunction name="remember" access="private" returntype="void" output="false" hint="Keeps a handled delivery's id (at most 10,000: then it starts again).">
		<cfargument name="id" type="string" required="true" hint="the delivery's id">
		<cflock name="crosstalk-deliveries" type="exclusive" timeout="5">
			<cfif structCount(variables.seen) gte 10000>
				<cfset structClear(variables.seen)>
			</cfif>
			<cfset structInsert(variables.seen, arguments.id, now(), true)>
		</cflock>
	</cffunction>

</cfcomponent>
