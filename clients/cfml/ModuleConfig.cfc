/**
 * crosstalk as a ColdBox module.
 *
 * Settings (config/ColdBox.cfc):
 *   moduleSettings = {
 *       crosstalk = {
 *           apiUrl = getSystemSetting( "CROSSTALK_API_URL" ),
 *           apiKey = getSystemSetting( "CROSSTALK_API_KEY" )
 *       }
 *   };
 *
 * Gives the app:
 *   - "Crosstalk@crosstalk", the client (models/Crosstalk.cfc) with these settings;
 *   - the ChatSession interceptor: registers the user's chat login on cbauth's postLogin
 *     and ends it on preLogout;
 *   - helpers in handlers, views and layouts: chatSession(), chatPublish(), chatPoll(),
 *     chatTicket(), chatSubscribers(), chatEmbed();
 *   - POST /crosstalk/ticket, where the embedded widget gets a new ticket to sign in again.
 */
component {

	this.title          = "crosstalk";
	this.author         = "crosstalk";
	this.description    = "One chat for sister ColdFusion apps: the crosstalk HTTP API client";
	this.version        = "0.1.0";
	this.modelNamespace = "crosstalk";
	this.cfmapping      = "crosstalk";
	this.autoMapModels  = false;
	// POST /crosstalk/ticket: the widget's re-sign-in (handlers/Ticket.cfc)
	this.entryPoint     = "crosstalk";
	// cbauth is optional: without it the interceptor has nothing to listen to
	this.dependencies   = [];
	this.applicationHelper = [ "helpers/ChatHelpers.cfm" ];

	void function configure() {
		variables.settings = {
			// the client (see Crosstalk.cfc defaultSettings())
			"apiUrl"         : "",
			"apiKey"         : "",
			"timeout"        : 10,
			"pollGrace"      : 5,
			"bodyFormat"     : "form",
			"userAgent"      : "ColdFusion",
			"defaultTtl"     : 28800,
			"widgetUrl"      : "",
			"embedScriptUrl" : "",
			"embedHeight"    : "",
			// the interceptor
			"followLogins"   : true,
			// where the user's chat session ref is kept in the session storage
			"storageKey"     : "crosstalk_session",
			// user method names tried in turn for the display name; the user id when none answers
			"displayNameMethods" : "getDisplayName,getFullName,getName,getUsername,getEmail",
			// a login's lifetime in seconds: match the app's session timeout
			"ttl"            : 28800,
			// log and carry on (true) or let a failure to reach crosstalk fail the login (false)
			"quietFailures"  : true,
			// where chatEmbed() tells the widget to get a new ticket; "": this module's route
			"ticketUrl"      : ""
		};

		variables.routes = [ { "pattern" : "/ticket", "handler" : "Ticket", "action" : "create" } ];

		variables.interceptorSettings = {
			// announced by cbauth; declared here too so that load order does not matter
			"customInterceptionPoints" : [ "postLogin", "preLogout" ]
		};

		variables.interceptors = [
			{
				"class"      : "#moduleMapping#.interceptors.ChatSession",
				"name"       : "ChatSession@crosstalk",
				"properties" : {}
			}
		];
	}

	void function onLoad() {
		binder
			.map( "Crosstalk@crosstalk" )
			.to( "#moduleMapping#.models.Crosstalk" )
			.initArg( name = "settings", dsl = "coldbox:moduleSettings:crosstalk" )
			.asSingleton();
		binder
			.map( "ChatSessionStore@crosstalk" )
			.to( "#moduleMapping#.models.ChatSessionStore" )
			.asSingleton();
	}

	void function onUnload() {
	}

}
