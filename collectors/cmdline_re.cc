// SPDX-License-Identifier: MIT
// cmdline_re: the C interface of cmdline_re.h over RE2. Nothing here throws
// across the boundary: RE2 reports errors by value, and allocation failures
// are caught and turned into -ENOMEM or no match.
#include "cmdline_re.h"

#include <errno.h>
#include <re2/re2.h>
#include <stdio.h>

#include <new>
#include <string>

#define MAX_SPANS 10 // {0}..{9}

struct cmdline_re {
	RE2 *re;
};

// POSIX extended as glibc's regcomp(REG_EXTENDED) reads it in the C locale:
// bytes, leftmost-longest, "." and "[^x]" match a newline, "^" and "$" only
// at the ends of the text; \d \w \s \b kept as the GNU extensions they are.
static RE2::Options posix_options()
{
	RE2::Options o;

	o.set_encoding(RE2::Options::EncodingLatin1);
	o.set_posix_syntax(true);
	o.set_longest_match(true);
	o.set_perl_classes(true);
	o.set_word_boundary(true);
	o.set_one_line(true);
	o.set_dot_nl(true);
	o.set_never_nl(false);
	o.set_log_errors(false);
	// Bounds the automaton's memory; past it RE2 falls back to a slower
	// but still linear engine rather than failing.
	o.set_max_mem(8 << 20);
	return o;
}

// Copies a bracket expression starting at p[i] == '[' to out; returns the
// index past it. In POSIX a backslash there is an ordinary character; RE2
// would read it as an escape.
static size_t copy_bracket(const std::string &p, size_t i, std::string &out)
{
	size_t j = i + 1;

	out += '[';
	if (j < p.size() && p[j] == '^')
		out += p[j++];
	if (j < p.size() && p[j] == ']')
		out += p[j++]; // a leading ']' is literal in both
	while (j < p.size() && p[j] != ']') {
		if (p[j] == '[' && j + 1 < p.size() && p[j + 1] == ':') {
			size_t end = p.find(":]", j + 2);

			if (end == std::string::npos)
				break;
			out.append(p, j, end + 2 - j);
			j = end + 2;
			continue;
		}
		if (p[j] == '\\')
			out += '\\';
		out += p[j++];
	}
	if (j < p.size())
		out += p[j++];
	return j;
}

// Rewrites the POSIX extended spellings RE2 reads otherwise: "\" inside
// brackets, "x{,n}" (glibc: at most n), and a ")" without its "(" (glibc:
// a literal). Everything else is the same syntax in both.
static std::string posix_to_re2(const std::string &p)
{
	std::string out;
	size_t depth = 0;

	for (size_t i = 0; i < p.size();) {
		char c = p[i];

		if (c == '\\' && i + 1 < p.size()) {
			out.append(p, i, 2);
			i += 2;
		} else if (c == '[') {
			i = copy_bracket(p, i, out);
		} else if (c == '(') {
			depth++;
			out += p[i++];
		} else if (c == ')') {
			out += depth ? ")" : "\\)";
			depth -= depth ? 1 : 0;
			i++;
		} else if (c == '{' && i + 1 < p.size() && p[i + 1] == ',') {
			out += "{0";
			i++;
		} else {
			out += p[i++];
		}
	}
	return out;
}

int cmdline_re_compile(const char *pattern, struct cmdline_re **out, unsigned *captures, char *why,
		       size_t why_len)
{
	try {
		RE2 *re = new RE2(posix_to_re2(pattern), posix_options());

		if (!re->ok()) {
			snprintf(why, why_len, "%s", re->error().c_str());
			delete re;
			return -EINVAL;
		}
		*out = new cmdline_re{re};
		*captures = (unsigned)re->NumberOfCapturingGroups();
		return 0;
	} catch (...) {
		return -ENOMEM;
	}
}

bool cmdline_re_search(const struct cmdline_re *re, const char *text, size_t len,
		       struct cmdline_re_span *spans, unsigned n)
{
	re2::StringPiece sub[MAX_SPANS];
	re2::StringPiece input(text, len);

	if (n > MAX_SPANS)
		n = MAX_SPANS;
	try {
		if (!re->re->Match(input, 0, len, RE2::UNANCHORED, sub, (int)n))
			return false;
	} catch (...) {
		return false;
	}
	for (unsigned i = 0; i < n; i++) {
		if (sub[i].data() == nullptr) {
			spans[i].so = spans[i].eo = -1;
			continue;
		}
		spans[i].so = sub[i].data() - text;
		spans[i].eo = spans[i].so + (long)sub[i].size();
	}
	return true;
}

void cmdline_re_free(struct cmdline_re *re)
{
	if (!re)
		return;
	delete re->re;
	delete re;
}
