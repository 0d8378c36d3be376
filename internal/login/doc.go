// Package login implements the browser side of Gatehouse: the login,
// consent and logout pages, browser sessions, CSRF protection, throttling of
// failed logins, and argon2id password hashing (OWASP Password Storage Cheat
// Sheet; RFC 9106).
package login
