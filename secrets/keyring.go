package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
)

// validName keeps a name inside its namespace's part of a backend (no
// `/`, no `..`).
var validName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// MinKeyLen is the shortest key a Keyring accepts, in bytes.
const MinKeyLen = 32

// Keyring seals and opens markers with one deployment key. Every process
// that renders templates (the executor), starts executions with SECRET
// inputs (the API, the CLI) or runs tasks (the worker) holds the same key.
// It is safe for concurrent use.
//
// Sealing uses AES-256-GCM with a synthetic nonce: the first 12 bytes of
// HMAC-SHA256 over the namespace and the sealed text, under a key of its
// own. The same text in the same namespace always seals to the same
// marker (which leaks only that two markers are equal), and distinct texts
// never share a nonce. Go's standard library has no AES-SIV and this
// construction needs nothing else from it; a library such as Tink would
// bring key management Relay does not use.
type Keyring struct {
	aead    cipher.AEAD
	nonces  []byte
	digests []byte
}

// ErrNotSealed is returned by Open for text that is not a marker of this
// key and namespace: forged, damaged, or sealed by another deployment or
// for another namespace.
var ErrNotSealed = errors.New("not a secret sealed by this deployment for this namespace")

// NewKeyring derives the sealing keys from key: any text of at least
// MinKeyLen bytes with that much entropy (a generated Secrets Manager
// secret, 32 random bytes in base64).
func NewKeyring(key []byte) (*Keyring, error) {
	if len(key) < MinKeyLen {
		return nil, fmt.Errorf("the secret key is %d bytes long: it needs at least %d", len(key), MinKeyLen)
	}
	enc, err := hkdf.Key(sha256.New, key, nil, "relay secrets v1 encryption", 32)
	if err != nil {
		return nil, fmt.Errorf("deriving the encryption key: %w", err)
	}
	mac, err := hkdf.Key(sha256.New, key, nil, "relay secrets v1 nonce", 32)
	if err != nil {
		return nil, fmt.Errorf("deriving the nonce key: %w", err)
	}
	dig, err := hkdf.Key(sha256.New, key, nil, "relay secrets v1 digest", 32)
	if err != nil {
		return nil, fmt.Errorf("deriving the digest key: %w", err)
	}
	block, err := aes.NewCipher(enc)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Keyring{aead: aead, nonces: mac, digests: dig}, nil
}

// Payload kinds: the name of a secret of the namespace's backend, or a
// value given as a SECRET input.
const (
	kindName  = 'n'
	kindValue = 'v'
)

func aad(namespace string) []byte { return []byte("relay-secret/v1/" + namespace) }

func (k *Keyring) seal(namespace string, kind byte, text string) string {
	plain := append([]byte{kind}, text...)
	ad := aad(namespace)
	h := hmac.New(sha256.New, k.nonces)
	h.Write(ad)
	h.Write([]byte{0})
	h.Write(plain)
	nonce := h.Sum(nil)[:k.aead.NonceSize()]
	sealed := k.aead.Seal(append([]byte(nil), nonce...), nonce, plain, ad)
	return markerOpen + base64.RawURLEncoding.EncodeToString(sealed) + markerClose
}

// Ref returns the marker of the secret called name in namespace: what
// secret('NAME') renders to.
func (k *Keyring) Ref(namespace, name string) (string, error) {
	if !validName.MatchString(name) {
		return "", fmt.Errorf("%q is not a secret name: use letters, digits, _, - and . (not first)", name)
	}
	return k.seal(namespace, kindName, name), nil
}

// Seal returns the marker holding value, encrypted: what a SECRET input is
// stored as. A value that already is a marker is returned as it is.
func (k *Keyring) Seal(namespace, value string) (string, error) {
	if IsMarker(value) {
		return value, nil
	}
	return k.seal(namespace, kindValue, value), nil
}

// Digest returns HMAC-SHA256 of value in namespace, in hex, under a key of
// its own derived from the deployment key: what a record that must tell
// two requests apart (an idempotency record) keeps of a secret value, so
// that the record neither holds the value nor a hash anyone could compute
// from a guess without the key.
func (k *Keyring) Digest(namespace, value string) string {
	h := hmac.New(sha256.New, k.digests)
	h.Write(aad(namespace))
	h.Write([]byte{0})
	h.Write([]byte(value))
	return hex.EncodeToString(h.Sum(nil))
}

// Opened is what a marker holds: a secret's Name, to look up, or its
// Value.
type Opened struct {
	Name  string
	Value string
}

// Open reads one marker sealed for namespace.
func (k *Keyring) Open(namespace, marker string) (Opened, error) {
	if !IsMarker(marker) {
		return Opened{}, ErrNotSealed
	}
	raw, err := base64.RawURLEncoding.DecodeString(marker[len(markerOpen) : len(marker)-len(markerClose)])
	n := k.aead.NonceSize()
	if err != nil || len(raw) < n {
		return Opened{}, ErrNotSealed
	}
	plain, err := k.aead.Open(nil, raw[:n], raw[n:], aad(namespace))
	if err != nil || len(plain) == 0 {
		return Opened{}, ErrNotSealed
	}
	switch plain[0] {
	case kindName:
		return Opened{Name: string(plain[1:])}, nil
	case kindValue:
		return Opened{Value: string(plain[1:])}, nil
	}
	return Opened{}, ErrNotSealed
}

// DryRun stands in for a Keyring in a dry run of the state machine (an
// event checked before it is sent), whose result is thrown away: its
// markers are placeholders that open to nothing.
type DryRun struct{}

// Ref returns Mask.
func (DryRun) Ref(string, string) (string, error) { return Mask, nil }

// Seal returns Mask.
func (DryRun) Seal(string, string) (string, error) { return Mask, nil }

// DryRunSecret stands in for secret() while inputs are only checked.
func DryRunSecret(string) (string, error) { return Mask, nil }
