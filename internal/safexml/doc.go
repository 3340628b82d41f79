// Package safexml reads the strict, safe subset of XML that the project
// reads all XML in (rule H6): HACX documents (package hacx), XEP-0156
// host-meta XRD (package hostmeta), and the XMPP elements of stream
// openings, features, WebSocket messages and BOSH bodies (package
// xmppstream). One reader means one policy and one reading of names,
// attributes and text wherever XML comes in.
//
// The policy is that of H6, whose reason is CVE-2022-0217 (an XML external
// entity in an XMPP server): a Reader refuses DOCTYPE and every other
// <!...> declaration, so no entity can be declared and nothing external is
// ever referenced; every processing instruction but an XML declaration at
// the very start; an XML version other than 1.0 and an encoding other than
// UTF-8; references other than &lt; &gt; &amp; &apos; &quot; and character
// references; nesting deeper than the bound given to NewReader; and
// anything that is not well-formed (E3): unclosed or mismatched tags, an
// attribute given twice, bytes that are not UTF-8 or not XML characters.
// The caller bounds the size of the input.
//
// The syntax accepted is exactly that of encoding/xml's Decoder in Strict
// mode, with the same error messages at the same line:column, so that
// `hacx lint` reports what it always reported; FuzzReader_SameAsEncodingXML
// checks that a Reader never accepts what encoding/xml refuses, and that
// what both accept gives the same elements, names, attributes and text.
// The difference is cost: the input is one string, names and attribute
// values are substrings of it (a value is copied only when a reference or
// a carriage return must be decoded), tokens are plain structs rather than
// interface values, and the Reader keeps its own stack of open elements
// (Stack), so that "closed by" and "never closed" messages name the open
// element and where it was opened.
//
// A Reader works on the whole input at once. A reader of a network stream,
// which must not read past the element it needs, keeps its own scanner
// to find where an element ends (package xmppstream's Splitter), then
// reads that element with a Reader; Declare gives the Reader the
// namespaces the stream header declared around it (RFC 6120 section 4.8).
package safexml
