/**
 * Keeps the user's chat login in step with the app's own login and session:
 *
 *   - cbauth postLogin: forgets any chat login of whoever was logged in before; the new
 *     user's is registered on first use (the widget's ticket route), so a login never
 *     waits for the hub;
 *   - every request (preProcess): slides the chat login as the app's session slides, at
 *     most every touchEvery seconds and off the request thread;
 *   - cbauth preLogout: ends the chat login (open chat windows close within a second), off
 *     the request thread.
 *
 * Off with moduleSettings.crosstalk.followLogins = false. Chat never fails a request here:
 * a hub that cannot be reached is logged (quietFailures = false lets a failure through).
 */
component {

	property name="store" inject="ChatSessionStore@crosstalk";

	void function configure() {
	}

	void function postLogin() {
		var args = announced( arguments );
		if ( !getModuleSettings( "crosstalk" ).followLogins || variables.store.usesOwnTokens() ) {
			return;
		}
		quietly( "clear", [ args.sessionStorage ?: "" ], "chat login not reset" );
	}

	void function preProcess() {
		if ( getModuleSettings( "crosstalk" ).followLogins ) {
			quietly( "touch", [], "chat login not slid" );
		}
	}

	void function preLogout() {
		if ( getModuleSettings( "crosstalk" ).followLogins ) {
			quietly( "end", [], "chat login not ended" );
		}
	}

	/** Calls the store; a crosstalk failure is logged, not thrown, unless quietFailures is off. */
	private void function quietly( required string method, required array args, required string what ) {
		try {
			invoke( variables.store, arguments.method, arguments.args );
		} catch ( any e ) {
			if ( !getModuleSettings( "crosstalk" ).quietFailures || listFirst( e.type, "." ) != "crosstalk" ) {
				rethrow;
			}
			log.warn( "crosstalk: #arguments.what#: #e.message# #e.detail#" );
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
