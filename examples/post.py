"""POST a JSON body with every request (wrk's scripts/post.lua).

    pyload -s examples/post.py http://127.0.0.1:8080/api/items

A script's globals ``method``, ``body`` and ``headers`` change the request, as ``wrk.method``,
``wrk.body`` and ``wrk.headers`` do in Lua (``headers`` are added to those of ``-H``;
``Content-Length`` is set for you). This script has no ``request()`` hook, so the request is
built once, before the load, and sent as fast as without a script. (The same from the command
line: ``-m POST --body '{...}' -H 'Content-Type: application/json'``.)
"""

import json

method = "POST"
body = json.dumps({"name": "pyload", "tags": ["load", "test"], "count": 3})
headers = {"Content-Type": "application/json"}
