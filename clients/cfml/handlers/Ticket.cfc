/**
 * POST /crosstalk/ticket - a fresh widget ticket for the logged-in user, as JSON {ticket}.
 * chatEmbed() points the widget's data-ticket-url here, so the widget can sign in again
 * after a dropped connection or a sleeping laptop (each ticket works once, for a minute).
 * Only same-origin scripts get here: the X-Requested-With header that crosstalk-embed.js
 * sends cannot come from another site's form or link.
 */
component {

	void function create( required any event ) {
		var ref = "";
		if ( arguments.event.getHTTPMethod() != "POST" ) {
			arguments.event.setHTTPHeader( name = "Allow", value = "POST" );
			arguments.event.renderData( type = "json", data = { "ticket" : "" }, statusCode = 405 );
			return;
		}
		if ( !len( arguments.event.getHTTPHeader( "X-Requested-With", "" ) ) ) {
			arguments.event.renderData( type = "json", data = { "ticket" : "" }, statusCode = 403 );
			return;
		}
		ref = getInstance( "ChatSessionStore@crosstalk" ).ensure();
		if ( !len( ref ) ) {
			arguments.event.renderData( type = "json", data = { "ticket" : "" }, statusCode = 401 );
			return;
		}
		arguments.event.renderData(
			type = "json",
			data = { "ticket" : getInstance( "Crosstalk@crosstalk" ).mintTicket( ref ).ticket }
		);
	}

}
