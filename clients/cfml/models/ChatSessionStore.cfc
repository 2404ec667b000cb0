/**
 * Keeps the current user's crosstalk session ref in the app's session storage
 * (ColdBox only; the plain client does not need it).
 *
 * Storage, first found: the storage cbauth hands to postLogin, SessionStorage@cbauth,
 * SessionStorage@cbstorages. The ref is an opaque string that
 * crosstalk issued; it is never the CFID/CFTOKEN.
 */
component singleton {

	property name="wirebox"  inject="wirebox";
	property name="settings" inject="coldbox:moduleSettings:crosstalk";
	property name="api"      inject="Crosstalk@crosstalk";

	any function init() {
		return this;
	}

	/** The current user's chat session ref, or "" when there is none. */
	string function get( any storage = "" ) {
		var store = storageFor( arguments.storage );
		var key   = variables.settings.storageKey;
		return store.exists( key ) ? store.get( key ) : "";
	}

	/** Remembers a ref for the current user. */
	void function put( required string ref, any storage = "" ) {
		var store = storageFor( arguments.storage );
		var key   = variables.settings.storageKey;
		store.set( key, arguments.ref );
	}

	/** Forgets the current user's ref (does not end it: see end()). */
	void function clear( any storage = "" ) {
		var store = storageFor( arguments.storage );
		var key   = variables.settings.storageKey;
		store.delete( key );
	}

	/**
	 * Registers a chat login for a user object (anything with getId()) and remembers it.
	 * Returns the ref.
	 */
	string function start( required any user, any storage = "" ) {
		var userId = toString( arguments.user.getId() );
		var reg    = variables.api.registerSession(
			userId      = userId,
			displayName = displayNameOf( arguments.user, userId ),
			ttl         = variables.settings.ttl
		);
		put( reg.session, arguments.storage );
		return reg.session;
	}

	/** Ends the current user's chat login, if any, and forgets it. */
	void function end( any storage = "" ) {
		var ref = get( arguments.storage );
		clear( arguments.storage );
		if ( len( ref ) ) {
			try {
				variables.api.endSession( ref );
			} catch ( any e ) {
				// a login that is already over has nothing left to end
				if ( !listFindNoCase( "crosstalk.unauthorized,crosstalk.not_found", e.type ) ) {
					rethrow;
				}
			}
		}
	}

	/**
	 * The current user's ref, registering one first when cbauth has a logged-in user
	 * but no chat login is remembered (logins made before the module was installed,
	 * or a ref that expired). "" for a guest.
	 */
	string function ensure( boolean renew = false ) {
		var ref = arguments.renew ? "" : get();
		var auth = "";
		if ( len( ref ) ) {
			return ref;
		}
		if ( !variables.wirebox.containsInstance( "authenticationService@cbauth" ) ) {
			return "";
		}
		auth = variables.wirebox.getInstance( "authenticationService@cbauth" );
		if ( !auth.isLoggedIn() ) {
			return "";
		}
		return start( auth.getUser() );
	}

	/** The name other users see: the first of displayNameMethods the user answers. */
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
				return trim( name );
			}
		}
		return arguments.fallback;
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
