/**
 * POST /crosstalk/ticket - a fresh widget ticket for the logged-in user, as JSON {ticket}.
 * chatEmbed() points the widget's data-ticket-url here: the widget signs in with what this
 * answers, and again after a dropped connection, a sleeping laptop or a chat login that
 * expired (each ticket works once, for a minute).
 *
 * Answers: 200 {ticket}; 401 for a guest (the widget waits for a sign-in); 503 {ticket:"",
 * error} with Retry-After when crosstalk cannot be reached (the widget says chat is
 * unavailable and asks again) - never a 500. A chat login that crosstalk no longer knows
 * (expired, ended elsewhere) is registered again here, transparently.
 *
 * Only same-origin scripts get here: the X-Requested-With header that crosstalk-embed.js
 * sends cannot come from another site's form or link. That is also why cbcsrf's token is
 * not asked for (@skipCsrf below).
 */
component {

	property name="store" inject="ChatSessionStore@crosstalk";

	/**
	 * @skipCsrf
	 */
	void function create( required any event ) {
		var ticket = "";
		if ( arguments.event.getHTTPMethod() != "POST" ) {
			arguments.event.setHTTPHeader( name = "Allow", value = "POST" );
			arguments.event.renderData( type = "json", data = { "ticket" : "" }, statusCode = 405 );
			return;
		}
		if ( !len( arguments.event.getHTTPHeader( "X-Requested-With", "" ) ) ) {
			arguments.event.renderData( type = "json", data = { "ticket" : "" }, statusCode = 403 );
			return;
		}
		try {
			ticket = variables.store.ticket();
		} catch ( any e ) {
			if ( listFirst( e.type, "." ) != "crosstalk" ) {
				rethrow;
			}
			log.warn( "crosstalk: no ticket for the widget: #e.type# #e.message# #e.detail#" );
			arguments.event.setHTTPHeader( name = "Retry-After", value = "5" );
			arguments.event.renderData(
				type       = "json",
				data       = {
					"ticket" : "",
					"error"  : { "code" : listLast( e.type, "." ), "message" : "chat is unavailable right now" }
				},
				statusCode = 503
			);
			return;
		}
		if ( !len( ticket ) ) {
			arguments.event.renderData( type = "json", data = { "ticket" : "" }, statusCode = 401 );
			return;
		}
		arguments.event.renderData( type = "json", data = { "ticket" : ticket } );
	}

}
