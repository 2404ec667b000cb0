/**
 * crosstalk as a ColdBox module.
 *
 * Settings (config/ColdBox.cfc):
 *   moduleSettings = {
 *       crosstalk = {
 *           apiUrl    = getSystemSetting( "CROSSTALK_API_URL" ),
 *           apiKey    = getSystemSetting( "CROSSTALK_API_KEY" ),
 *           widgetUrl = getSystemSetting( "CROSSTALK_WIDGET_URL" )
 *       }
 *   };
 *
 * Gives the app:
 *   - "Crosstalk@crosstalk", the client (models/Crosstalk.cfc) with these settings;
 *   - the ChatSession interceptor: keeps the user's chat login in step with the app's login
 *     and session (cbauth postLogin/preLogout, and a slide as the session sees activity);
 *   - helpers in handlers, views and layouts: chatSession(), chatPublish(), chatPoll(),
 *     chatTicket(), chatSubscribers(), chatEmbed();
 *   - POST /crosstalk/ticket (config/Router.cfc), where the widget gets its tickets.
 *
 * The engine mapping /crosstalk is registered for convenience only (nothing in the module
 * uses it): name it otherwise, or none at all, with the JVM system property or environment
 * variable CROSSTALK_CFMAPPING ("none" for none), e.g. when the app already has a /crosstalk.
 */
component {

	this.title          = "crosstalk";
	this.author         = "crosstalk";
	this.webURL         = "https://github.com/crosstalk-chat/crosstalk";
	this.description    = "One chat for sister ColdFusion apps: the crosstalk HTTP API client";
	this.version        = "0.1.0";
	this.modelNamespace = "crosstalk";
	this.cfmapping      = mappingName();
	this.autoMapModels  = false;
	// POST /crosstalk/ticket: the widget's sign-in (config/Router.cfc, handlers/Ticket.cfc)
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
			// never an e-mail address: a name others see in every sister app
			"displayNameMethods" : "getDisplayName,getFullName,getName,getUsername",
			// show an e-mail address as a name (false: only the part before the @)
			"allowEmailNames" : false,
			// a login's lifetime in seconds from its last use: match the app's session timeout
			"ttl"            : 28800,
			// slide the chat login at most this often (seconds) as the app's session sees activity; 0: never
			"touchEvery"     : 300,
			// "bring your own token": the session-storage key (or a closure returning it) of the
			// app's own login token, which a resolve_session() over the app's session table
			// understands; "": register chat logins with crosstalk (POST sessions)
			"ownToken"       : "",
			// embed(): mint the first ticket with the page (true), or let the browser fetch it (false)
			"embedMint"      : false,
			// seconds a ticket minted with the page may take before the page goes on without it
			"embedMintTimeout" : 2,
			// seconds a slide may take (it runs off the request thread)
			"touchTimeout"   : 2,
			// log and carry on (true) or let a failure to reach crosstalk fail the login (false)
			"quietFailures"  : true,
			// where chatEmbed() tells the widget to get a new ticket; "": this module's route
			"ticketUrl"      : ""
		};

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

	/** CROSSTALK_CFMAPPING (JVM property, then environment): the mapping's name; "none": none. */
	private string function mappingName() {
		var system = createObject( "java", "java.lang.System" );
		var name = system.getProperty( "CROSSTALK_CFMAPPING" );
		if ( isNull( name ) ) {
			name = system.getenv( "CROSSTALK_CFMAPPING" );
		}
		if ( isNull( name ) || !len( trim( name ) ) ) {
			return "crosstalk";
		}
		return trim( name ) == "none" ? "" : trim( name );
	}

}
