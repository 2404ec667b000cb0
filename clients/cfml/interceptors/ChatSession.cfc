/**
 * Follows cbauth: a login registers the user's chat login with crosstalk, a logout ends it
 * (the user's open chat connections close within a second).
 *
 * Off with moduleSettings.crosstalk.followLogins = false. With quietFailures (the default)
 * an unreachable chat hub is logged and the app's login goes on; the helpers register the
 * chat login later, on first use.
 */
component {

	property name="store" inject="ChatSessionStore@crosstalk";

	void function configure() {
	}

	void function postLogin() {
		var args = announced( arguments );
		var settings = getModuleSettings( "crosstalk" );
		if ( !settings.followLogins || !structKeyExists( args, "user" ) || !isObject( args.user ) ) {
			return;
		}
		try {
			variables.store.start( args.user, args.sessionStorage ?: "" );
		} catch ( any e ) {
			if ( !settings.quietFailures || listFirst( e.type, "." ) != "crosstalk" ) {
				rethrow;
			}
			log.warn( "crosstalk: chat login not registered: #e.message# #e.detail#" );
		}
	}

	void function preLogout() {
		var settings = getModuleSettings( "crosstalk" );
		if ( !settings.followLogins ) {
			return;
		}
		try {
			variables.store.end();
		} catch ( any e ) {
			if ( !settings.quietFailures || listFirst( e.type, "." ) != "crosstalk" ) {
				rethrow;
			}
			log.warn( "crosstalk: chat login not ended: #e.message# #e.detail#" );
		}
	}

	/** The announcement's data: ColdBox 6+ passes `data`, ColdBox 5 `interceptData`. */
	private struct function announced( required struct args ) {
		if ( structKeyExists( arguments.args, "data" ) && isStruct( arguments.args.data ) ) {
			return arguments.args.data;
		}
		if ( structKeyExists( arguments.args, "interceptData" ) && isStruct( arguments.args.interceptData ) ) {
			return arguments.args.interceptData;
		}
		return {};
	}

}
