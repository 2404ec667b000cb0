<cfscript>
/*
 * crosstalk helpers, mixed into ColdBox handlers, views, layouts and interceptors
 * (ModuleConfig applicationHelper). All start with "chat": CFML's own WsPublish,
 * WsGetSubscribers and friends are built-in names.
 *
 * Each uses the current user's chat login (registered on first use, slid as the app's
 * session slides: see ChatSessionStore) unless given a sessionRef. A chat login that
 * crosstalk no longer knows (expired, ended elsewhere) is registered again once.
 *
 * What renders a page never throws because of the hub and never waits for it longer than
 * embedMintTimeout: chatEmbed() calls nothing (the browser fetches its ticket from the
 * module's ticket route), chatTicket() answers "" when no ticket comes in time.
 */

/** The current user's crosstalk session ref ("" for a guest). */
string function chatSession() {
	return getInstance( "ChatSessionStore@crosstalk" ).ensure();
}

/** Posts a message as the current user (or as sessionRef's user). Returns {ok, message}. */
struct function chatPublish(
	required string channel,
	required string text,
	string sessionRef = "",
	string clientId = "",
	boolean excludeSender = false
) {
	var args = {
		"channel"       : arguments.channel,
		"text"          : arguments.text,
		"clientId"      : arguments.clientId,
		"excludeSender" : arguments.excludeSender
	};
	return chatCall( "publish", args, arguments.sessionRef );
}

/** Messages after a seq; wait > 0 long-polls. Returns {ok, messages, last_seq, has_more}. */
struct function chatPoll(
	required string channel,
	string after = "0",
	numeric limit = 50,
	numeric wait = 0,
	string sessionRef = ""
) {
	var args = {
		"channel" : arguments.channel,
		"after"   : arguments.after,
		"limit"   : arguments.limit,
		"wait"    : arguments.wait
	};
	return chatCall( "poll", args, arguments.sessionRef );
}

/**
 * A fresh single-use ticket for the current user's browser (the string), "" for a guest or
 * when the hub gives none within embedMintTimeout (the page then relies on its ticket URL):
 * data-ticket="#encodeForHTMLAttribute( chatTicket() )#".
 */
string function chatTicket( string sessionRef = "" ) {
	var settings = getModuleSettings( "crosstalk" );
	try {
		if ( len( arguments.sessionRef ) ) {
			return getInstance( "Crosstalk@crosstalk" )
				.send( "POST", "tickets", {}, arguments.sessionRef, settings.embedMintTimeout )
				.ticket;
		}
		return getInstance( "ChatSessionStore@crosstalk" ).ticket( settings.embedMintTimeout );
	} catch ( any e ) {
		if ( listFirst( e.type, "." ) != "crosstalk" ) {
			rethrow;
		}
		return "";
	}
}

/** Who is in a channel now. Returns {ok, channel, users}. */
struct function chatSubscribers( required string channel, string sessionRef = "" ) {
	return chatCall( "getSubscribers", { "channel" : arguments.channel }, arguments.sessionRef );
}

/**
 * The chat widget's HTML for the current user, or "" for a guest. Output it unescaped.
 * It asks the hub nothing (set the widgetUrl setting): the widget gets its tickets from this
 * module's POST /crosstalk/ticket (or the ticketUrl setting) once the page is shown, and says
 * so calmly while the hub is unavailable. Never throws because of the hub.
 */
string function chatEmbed( string channel = "", string height = "", string sessionRef = "" ) {
	var settings = getModuleSettings( "crosstalk" );
	var store = getInstance( "ChatSessionStore@crosstalk" );
	var ticketUrl = settings.ticketUrl;
	try {
		if ( !len( arguments.sessionRef ) && !store.isLoggedIn() ) {
			return "";
		}
		if ( !len( ticketUrl ) ) {
			ticketUrl = getRequestContext().buildLink( "crosstalk/ticket" );
		}
		return getInstance( "Crosstalk@crosstalk" ).embed(
			session   = len( arguments.sessionRef ) ? arguments.sessionRef : store.get(),
			channel   = arguments.channel,
			height    = arguments.height,
			ticketUrl = ticketUrl
		);
	} catch ( any e ) {
		if ( listFirst( e.type, "." ) != "crosstalk" ) {
			rethrow;
		}
		return '<div class="crosstalk-chat crosstalk-unavailable" role="status">Chat is unavailable right now.</div>';
	}
}

/** Calls a client method with the session ref; re-registers once when the ref is no longer known. */
any function chatCall( required string method, required struct args, string sessionRef = "" ) {
	var api   = getInstance( "Crosstalk@crosstalk" );
	var store = getInstance( "ChatSessionStore@crosstalk" );
	var own   = !len( arguments.sessionRef );
	var ref   = own ? store.ensure() : arguments.sessionRef;
	var callArgs = duplicate( arguments.args );
	callArgs[ "session" ] = ref;
	try {
		return invoke( api, arguments.method, callArgs );
	} catch ( any e ) {
		if ( !own || e.type != "crosstalk.unauthorized" || !len( ref ) ) {
			rethrow;
		}
	}
	callArgs[ "session" ] = store.ensure( renew = true );
	return invoke( api, arguments.method, callArgs );
}
</cfscript>
