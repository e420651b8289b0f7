"""The Twilio-compatible surface: /2010-04-01/Accounts/{AccountSid}/Messages.json and Calls.json,
TwiML, and Twilio-shaped status callbacks, as thin views over the SMS and voice services
(docs/twilio-compatibility.md)."""

#: The dialect of messages and calls made through this surface (decision 1222).
DIALECT = "twilio"
