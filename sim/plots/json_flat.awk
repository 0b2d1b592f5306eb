# SPDX-License-Identifier: MIT
# Flattens one JSON document into "path<TAB>value" lines, e.g. "policies.0.name<TAB>hare",
# so that shell and awk can read hare-sim's summary.json without python. POSIX awk (mawk).
# Strings lose their quotes (escapes decoded, tabs and newlines become spaces); null stays
# "null"; an empty object or array prints nothing. On a syntax error: a message on stderr, exit 1.

function fail(what) {
	if (bad)
		return
	printf "%s: JSON error at byte %d: %s\n", FILENAME, pos, what > "/dev/stderr"
	bad = 1
	pos = len + 1
}

function skip_ws() {
	while (pos <= len && index(" \t\r\n", substr(buf, pos, 1)))
		pos++
}

function join(path, key) {
	return path == "" ? key : path "." key
}

function parse_string(    out, c, e) {
	out = ""
	pos++
	while (pos <= len) {
		c = substr(buf, pos, 1)
		if (c == "\"") {
			pos++
			return out
		}
		if (c == "\\") {
			e = substr(buf, pos + 1, 1)
			pos += 2
			if (e == "n" || e == "t" || e == "r")
				out = out " "
			else if (e == "u") {
				out = out "?"
				pos += 4
			} else if (e == "b" || e == "f")
				out = out ""
			else
				out = out e
			continue
		}
		if (c == "\t" || c == "\n")
			c = " "
		out = out c
		pos++
	}
	fail("unterminated string")
	return out
}

function parse_object(path,    key, c) {
	pos++
	skip_ws()
	if (substr(buf, pos, 1) == "}") {
		pos++
		return
	}
	while (pos <= len) {
		skip_ws()
		if (substr(buf, pos, 1) != "\"") {
			fail("expected a key")
			return
		}
		key = parse_string()
		skip_ws()
		if (substr(buf, pos, 1) != ":") {
			fail("expected ':'")
			return
		}
		pos++
		parse_value(join(path, key))
		skip_ws()
		c = substr(buf, pos, 1)
		pos++
		if (c == "}")
			return
		if (c != ",") {
			fail("expected ',' or '}'")
			return
		}
	}
}

function parse_array(path,    i, c) {
	pos++
	skip_ws()
	if (substr(buf, pos, 1) == "]") {
		pos++
		return
	}
	for (i = 0; pos <= len; i++) {
		parse_value(join(path, i))
		skip_ws()
		c = substr(buf, pos, 1)
		pos++
		if (c == "]")
			return
		if (c != ",") {
			fail("expected ',' or ']'")
			return
		}
	}
}

function parse_value(path,    c, s) {
	skip_ws()
	c = substr(buf, pos, 1)
	if (c == "{")
		parse_object(path)
	else if (c == "[")
		parse_array(path)
	else if (c == "\"")
		print path "\t" parse_string()
	else if (match(substr(buf, pos, 64), /^(-?[0-9][0-9.eE+-]*|true|false|null)/)) {
		print path "\t" substr(buf, pos, RLENGTH)
		pos += RLENGTH
	} else
		fail("unexpected '" c "'")
}

{ buf = buf $0 "\n" }

END {
	len = length(buf)
	pos = 1
	skip_ws()
	if (pos <= len)
		parse_value("")
	skip_ws()
	if (!bad && pos <= len)
		fail("trailing text")
	exit bad
}
