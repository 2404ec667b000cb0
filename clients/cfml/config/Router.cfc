/**
 * The module's routes, under its entry point (/crosstalk unless the app moves it):
 *
 *   POST /crosstalk/ticket   a fresh widget ticket for the logged-in user (handlers/Ticket.cfc)
 *
 * Only POST: a ticket is a credential, and a GET could be fetched by any page that links
 * here. ColdBox answers other methods with 405. With cbcsrf's auto-verifier on, the action
 * is annotated @skipCsrf (the X-Requested-With header the embed sends is this route's
 * guard), or list it in cbcsrf's verifyExcludes: "^crosstalk:Ticket\.".
 */
component {

	void function configure() {
		route( "/ticket" ).withAction( { "POST" : "create" } ).toHandler( "Ticket" );
	}

}
