/**
 * The current user's chat login, kept with the app's own session (ColdBox only; the plain
 * client does not need it), and kept in step with it:
 *
 *   - registered lazily, on first use (the widget's ticket route, a helper): a login page
 *     never waits for the hub;
 *   - slid (POST sessions/touch) as the app's session sees activity, at most every
 *     touchEvery seconds and off the request thread, so that the chat login expires when
 *     the app's session does and not before;
 *   - registered again, transparently, when crosstalk no longer knows it (it expired while
 *     the user was away, or ended elsewhere) and the user is still logged in to the app;
 *   - or, with the ownToken setting, not registered at all: the app's own login token is the
 *     session ref, resolved by a resolve_session() the deployer points at the app's session
 *     table ("bring your own token", docs/DEPLOY.md). The app keeps and slides that row.
 *
 * Storage, first found: the storage cbauth hands to postLogin, SessionStorage@cbauth,
 * SessionStorage@cbstorages. The ref is an opaque string that crosstalk issued (or the
 * app's own token); it is never the CFID/CFTOKEN.
 */
component singleton {

	property name="wirebox"      inject="wirebox";
	property name="settings"     inject="coldbox:moduleSettings:crosstalk";
	property name="api"          inject="Crosstalk@crosstalk";
	property name="asyncManager" inject="asyncManager@coldbox";
	property name="log"          inject="logbox:logger:{this}";

	any function init() {
		return this;
	}

	/** The current user's chat session ref, or "" when there is none (never calls the hub). */
	string function get( any storage = "" ) {
		var store = "";
		if ( usesOwnTokens() ) {
			return ownToken( arguments.storage );
		}
		store = storageFor( arguments.storage );
		return store.exists( variables.settings.storageKey ) ? store.get( variables.settings.storageKey ) : "";
	}

	/** Remembers a ref for the current user. */
	void function put( required string ref, any storage = "" ) {
		var store = storageFor( arguments.storage );
		store.set( variables.settings.storageKey, arguments.ref );
		store.set( touchedKey(), epochSeconds() );
	}

	/** Forgets the current user's ref (does not end it: see end()). */
	void function clear( any storage = "" ) {
		var store = storageFor( arguments.storage );
		store.delete( variables.settings.storageKey );
		store.delete( touchedKey() );
	}

	/**
	 * Registers a chat login for a user object (anything with getId()) and remembers it.
	 * Returns the ref. With ownToken, nothing is registered: the app's token is returned.
	 */
	string function start( required any user, any storage = "" ) {
		var userId = "";
		var reg    = "";
		if ( usesOwnTokens() ) {
			return ownToken( arguments.storage );
		}
		userId = toString( arguments.user.getId() );
		reg    = variables.api.registerSession(
			userId      = userId,
			displayName = displayNameOf( arguments.user, userId ),
			ttl         = variables.settings.ttl
		);
		put( reg.session, arguments.storage );
		return reg.session;
	}

	/**
	 * Ends the current user's chat login, if any, and forgets it: every open chat window of
	 * that login closes within a second. Off the request thread: a logout never waits for
	 * the hub. With ownToken the app ends its own row; this only closes the connections.
	 */
	void function end( any storage = "" ) {
		var ref = get( arguments.storage );
		if ( !usesOwnTokens() ) {
			clear( arguments.storage );
		}
		if ( !len( ref ) ) {
			return;
		}
		variables.asyncManager.newFuture( function() {
			try {
				variables.api.endSession( ref );
			} catch ( any e ) {
				// a login that is already over has nothing left to end
				variables.log.warn( "crosstalk: chat login not ended: #e.type# #e.message#" );
			}
		} );
	}

	/**
	 * The current user's ref, registering one first when the app has a logged-in user but no
	 * chat login is remembered (the first use after the login, or renew = true after
	 * crosstalk said it no longer knows the ref). "" for a guest.
	 */
	string function ensure( boolean renew = false ) {
		var ref = "";
		if ( usesOwnTokens() ) {
			return ownToken();
		}
		ref = arguments.renew ? "" : get();
		if ( len( ref ) ) {
			return ref;
		}
		if ( !isLoggedIn() ) {
			return "";
		}
		return start( currentUser() );
	}

	/**
	 * A ticket for the current user's browser, "" for a guest. A chat login crosstalk no
	 * longer knows is registered again once (not with ownToken: then the app's login is over).
	 * timeout: seconds (0: the timeout setting).
	 */
	string function ticket( numeric timeout = 0 ) {
		var ref = ensure();
		if ( !len( ref ) ) {
			return "";
		}
		try {
			return variables.api.send( "POST", "tickets", {}, ref, arguments.timeout ).ticket;
		} catch ( any e ) {
			if ( e.type != "crosstalk.unauthorized" ) {
				rethrow;
			}
		}
		if ( usesOwnTokens() ) {
			return "";
		}
		ref = ensure( renew = true );
		return len( ref ) ? variables.api.send( "POST", "tickets", {}, ref, arguments.timeout ).ticket : "";
	}

	/**
	 * Slides the current user's chat login as the app's session sees activity: at most every
	 * touchEvery seconds, and off the request thread (a slow hub never holds a page). A login
	 * that is over by then is registered again on its next use. Never throws.
	 */
	void function touch() {
		var store = "";
		var ref = "";
		var last = 0;
		if ( usesOwnTokens() || !variables.settings.touchEvery ) {
			return;
		}
		store = storageFor();
		ref = store.exists( variables.settings.storageKey ) ? store.get( variables.settings.storageKey ) : "";
		if ( !len( ref ) ) {
			return;
		}
		last = store.exists( touchedKey() ) ? store.get( touchedKey() ) : 0;
		if ( isNumeric( last ) && epochSeconds() - last < variables.settings.touchEvery ) {
			return;
		}
		store.set( touchedKey(), epochSeconds() );
		variables.asyncManager.newFuture( function() {
			try {
				variables.api.touchSession( ref );
			} catch ( any e ) {
				variables.log.info( "crosstalk: chat login not slid (#e.type#): it is registered again on its next use" );
			}
		} );
	}

	/** True when ownToken is set: the app's own login token is the session ref. */
	boolean function usesOwnTokens() {
		var source = variables.settings.ownToken;
		return !isSimpleValue( source ) || len( source );
	}

	/**
	 * The app's own login token for the current user: ownToken is either the name of the
	 * session-storage key where the app keeps it, or a closure that returns it.
	 */
	string function ownToken( any storage = "" ) {
		var source = variables.settings.ownToken;
		var store = "";
		var token = "";
		if ( isCustomFunction( source ) || isClosure( source ) ) {
			token = source();
			return isNull( token ) || !isSimpleValue( token ) ? "" : toString( token );
		}
		if ( !len( source ) ) {
			return "";
		}
		store = storageFor( arguments.storage );
		return store.exists( source ) ? toString( store.get( source ) ) : "";
	}

	/** Is someone logged in to the app (cbauth), or does the app hand its own token? */
	boolean function isLoggedIn() {
		if ( usesOwnTokens() ) {
			return len( ownToken() ) > 0;
		}
		return variables.wirebox.containsInstance( "authenticationService@cbauth" )
			&& variables.wirebox.getInstance( "authenticationService@cbauth" ).isLoggedIn();
	}

	/**
	 * The name other users see: the first of displayNameMethods the user answers, else the
	 * user id; an e-mail address only by its part before the @ (allowEmailNames to show it).
	 */
	string function displayNameOf( required any user, required string fallback ) {
		var name = "";
		var methodName = "";
		for ( methodName in listToArray( variables.settings.displayNameMethods ) ) {
			try {
				name = invoke( arguments.user, methodName );
			} catch ( any e ) {
				// the user object has no such method: try the next
				continue;
			}
			if ( !isNull( name ) && isSimpleValue( name ) && len( trim( name ) ) ) {
				return variables.api.displayNameFor( arguments.fallback, trim( name ) );
			}
		}
		return variables.api.displayNameFor( arguments.fallback, "" );
	}

	private any function currentUser() {
		return variables.wirebox.getInstance( "authenticationService@cbauth" ).getUser();
	}

	private string function touchedKey() {
		return variables.settings.storageKey & "_touched";
	}

	private numeric function epochSeconds() {
		return dateDiff( "s", createDate( 1970, 1, 1 ), now() );
	}

	private any function storageFor( any given = "" ) {
		if ( isObject( arguments.given ) ) {
			return arguments.given;
		}
		if ( variables.wirebox.containsInstance( "SessionStorage@cbauth" ) ) {
			return variables.wirebox.getInstance( "SessionStorage@cbauth" );
		}
		if ( variables.wirebox.containsInstance( "SessionStorage@cbstorages" ) ) {
			return variables.wirebox.getInstance( "SessionStorage@cbstorages" );
		}
		throw(
			type    = "crosstalk.config",
			message = "crosstalk: no session storage",
			detail  = "Install cbauth (it brings SessionStorage@cbauth) or cbstorages, or pass sessionRef to the chat helpers."
		);
	}

}
