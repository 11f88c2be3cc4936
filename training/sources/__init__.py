"""Where training data comes from: simulated or imported orders, and their use in requests.

`simulator` makes labelled orders from five fraud scenarios and honest customers;
`history` and `mapping` import a user's own order export through a YAML column mapping;
`demo_split` splits a simulated stream into the demo's history and live orders; and
`payloads` turns an order row into the JSON body of the scoring API.
"""
