// Package admin holds Gatehouse's administrative operations on clients and
// users: validation, secret generation and storage. The CLI calls it
// directly against the local store; the /admin/v1 JSON API will call the
// same functions, so both paths enforce the same rules.
package admin
