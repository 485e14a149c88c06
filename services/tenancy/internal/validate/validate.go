// Package validate checks the user-supplied strings tenancy stores: slugs, emails, passwords and
// display names. Each check returns a description for a field violation, or "" when the value
// is fine, so handlers can report every bad field of a request at once.
package validate

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Slug limits. Slugs become DNS labels (<slug>.example.com), so they follow the label rules,
// stricter: a leading letter keeps slugs apart from tenant ids, which start with a digit.
const (
	SlugMin = 3
	SlugMax = 40
)

// reserved slugs would collide with hosts the platform itself serves, or would look official.
var reserved = map[string]bool{}

func init() {
	for _, s := range strings.Fields(`
		www www1 www2 api apis admin administrator app apps mail email smtp imap pop pop3 mx ftp sftp
		ns ns1 ns2 dns status docs doc help support billing pay payments static assets cdn media
		img images files download downloads upload uploads auth oauth sso login logout signin
		signout signup register account accounts console dashboard portal operator operators
		system internal localhost root dev test staging stage prod production
		blog about security abuse postmaster hostmaster webmaster metrics health healthz readyz
		grpc connect gateway atrium tenant tenants platform service services catalog insights
		entitlements jwks well-known`) {
		reserved[s] = true
	}
}

// Reserved reports whether slug is kept for the platform.
func Reserved(slug string) bool { return reserved[slug] }

// Slug checks a tenant slug: 3 to 40 of a-z, 0-9 and "-", starting with a letter, not ending
// with "-", no "--" (which DNS keeps for punycode), not reserved.
func Slug(s string) string {
	switch {
	case s == "":
		return "required"
	case len(s) < SlugMin || len(s) > SlugMax:
		return "must be 3 to 40 characters"
	case strings.ToLower(s) != s:
		return "must be lowercase"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return "may only contain a-z, 0-9 and -"
		}
	}
	switch {
	case s[0] < 'a' || s[0] > 'z':
		return "must start with a letter"
	case s[len(s)-1] == '-':
		return "must not end with -"
	case strings.Contains(s, "--"):
		return "must not contain --"
	case Reserved(s):
		return "is reserved"
	}
	return ""
}

// NormalizeEmail lowercases and trims an email address. Addresses are compared and stored in
// this form, so Alice@Example.com and alice@example.com are one user.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// Email checks an address already normalized with NormalizeEmail: a bare addr-spec (no display
// name, no angle brackets) with a dotted domain, at most 254 characters.
func Email(s string) string {
	if s == "" {
		return "required"
	}
	if len(s) > 254 {
		return "must be at most 254 characters"
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "is not a valid email address"
	}
	at := strings.LastIndexByte(s, '@')
	domain := s[at+1:]
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") ||
		strings.Contains(domain, "..") || strings.ContainsAny(domain, "[]") {
		return "is not a valid email address"
	}
	return ""
}

// EmailLocal returns the part of an address before the @.
func EmailLocal(email string) string {
	if i := strings.LastIndexByte(email, '@'); i >= 0 {
		return email[:i]
	}
	return email
}

// Password limits. The maximum keeps hashing cost bounded; 128 is far beyond any real
// passphrase.
const (
	PasswordMin = 10
	PasswordMax = 128
)

// common holds passwords every cracking list starts with; the length rule already removes
// the shorter ones.
var common = map[string]bool{}

func init() {
	for _, s := range strings.Fields(`
		password1 password12 password123 password1234 passw0rd123 p@ssw0rd123 p@ssword123
		1234567890 12345678910 0123456789 0987654321 1q2w3e4r5t 1q2w3e4r5t6y qwertyuiop
		qwerty1234 qwerty12345 qwerty123456 1qaz2wsx3edc zaq12wsxcde asdfghjkl1 iloveyou12
		letmein123 welcome123 welcome1234 admin12345 administrator changeme123 trustno1234
		football123 baseball123 sunshine123 princess123 dragon12345 monkey12345 superman123
		abcdefgh12 abcd123456 abc1234567 aa12345678 a123456789 q1w2e3r4t5 password!! password123!`) {
		common[s] = true
	}
}

// Password checks a new password: 10 to 128 characters, at least two character classes
// (lowercase, uppercase, digits, others), not a well-known password, and not containing the
// tenant slug or the email's local part (either at least 3 characters long).
func Password(pw, slug, email string) string {
	n := utf8.RuneCountInString(pw)
	switch {
	case pw == "":
		return "required"
	case n < PasswordMin:
		return "must be at least 10 characters"
	case len(pw) > PasswordMax:
		return "must be at most 128 bytes"
	case !utf8.ValidString(pw):
		return "must be valid UTF-8"
	}
	var lower, upper, digit, other bool
	for _, r := range pw {
		switch {
		case unicode.IsLower(r):
			lower = true
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsDigit(r):
			digit = true
		default:
			other = true
		}
	}
	classes := 0
	for _, b := range []bool{lower, upper, digit, other} {
		if b {
			classes++
		}
	}
	low := strings.ToLower(pw)
	switch {
	case classes < 2:
		return "must mix at least two of lowercase, uppercase, digits and symbols"
	case common[low]:
		return "is too common"
	case len(slug) >= 3 && strings.Contains(low, strings.ToLower(slug)):
		return "must not contain the organization slug"
	}
	if local := strings.ToLower(EmailLocal(email)); len(local) >= 3 && strings.Contains(low, local) {
		return "must not contain the email address"
	}
	return ""
}

// DisplayNameMax is the longest display name, in characters.
const DisplayNameMax = 100

// DisplayName checks a display name already trimmed with strings.TrimSpace: 1 to 100
// characters, no control characters.
func DisplayName(s string) string {
	switch n := utf8.RuneCountInString(s); {
	case s == "":
		return "required"
	case !utf8.ValidString(s):
		return "must be valid UTF-8"
	case n > DisplayNameMax:
		return "must be at most 100 characters"
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "must not contain control characters"
		}
	}
	return ""
}
