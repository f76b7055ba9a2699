package fingerprint

// IsGREASE reports whether v is one of the sixteen GREASE values of RFC 8701
// (0x0a0a, 0x1a1a, ..., 0xfafa). The same values are reserved for cipher
// suites, extensions, groups, signature algorithms, versions and ALPS.
func IsGREASE(v uint16) bool {
	return v&0x0f0f == 0x0a0a && v>>8 == v&0xff
}
