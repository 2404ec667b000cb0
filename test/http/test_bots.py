#!/usr/bin/python3
"""test_bots.py - system and bot messages: POST messages with the app key
and a bot name, no session, posts as that app's bot (user id
bot:<app>:<name>, which no user can have; "bot": true in every event of
it); only to named channels the app may use; the bots of an app share one
rate limit; a bad name, a session beside a bot, or neither is refused."""
from ct import T, api, sql1, uniq
from hx import expect, key, new_channel, new_session, post

ch = new_channel()
only2 = new_channel(apps=["app2"])
ref_a, alice = new_session("app1", name="Alice")


def announce(channel, text, bot, app="app1", **extra):
    body = {"channel": channel, "text": text, "bot": bot}
    body.update(extra)
    return api("POST", "messages", key=key(app), json_body=body)


r = expect("a bot posts", announce(ch, "Order #1042 shipped", "Shipping"), 201)
m = r.json["message"]
T.eq((m["user"], m.get("bot"), m["app"]), ({"id": "bot:app1:Shipping", "name": "Shipping"}, True, "app1"),
     "as the app's bot, marked")
r = expect("poll", api("GET", "messages/poll", key=key("app1"), session=ref_a, query={"channel": ch}), 200)
T.eq([e.get("bot") for e in r.json["messages"]], [True], "polls show it as a bot's")
r = expect("a user's post", post(ref_a, ch, "thanks"), 201)
T.eq(r.json["message"].get("bot"), None, "a user's message is not a bot's")
expect("a bot and a session", api("POST", "messages", key=key("app1"), session=ref_a,
                                  json_body={"channel": ch, "text": "x", "bot": "B"}), 422, "invalid")
expect("neither", api("POST", "messages", key=key("app1"), json_body={"channel": ch, "text": "x"}),
       401, "unauthorized")
r = expect("a bot in a DM", announce("dm:a:b", "x", "B"), 403, "forbidden")
T.ok("named channels" in r.json["error"]["message"], "says why", r.json["error"]["message"])
expect("a bot in another app's channel", announce(only2, "x", "B"), 403, "forbidden")
for what, name in [("a colon", "a:b"), ("too long", "b" * 65), ("a control", "a\u0007"), ("empty", "")]:
    expect("bot name with " + what, announce(ch, "x", name), 422, "invalid")
expect("no such key", api("POST", "messages", key="app1.nope", json_body={"channel": ch, "text": "x", "bot": "B"}),
       401, "unauthorized")

# one rate limit for all the bots of an app (app2's: app1's bot is the
# CFML client's recording)
statuses = [announce(ch, "tick %d" % i, "Ticker %d" % (i % 3), app="app2").status for i in range(40)]
T.ok(201 in statuses and 429 in statuses, "the bots of one app share a rate limit", statuses)
T.eq(sql1("SELECT count(*) FROM crosstalk.messages WHERE channel = :'v1' AND user_id LIKE 'bot:%' "
          "AND text LIKE 'tick %'", ch), str(statuses.count(201)), "a refused post stores nothing")
T.done()
