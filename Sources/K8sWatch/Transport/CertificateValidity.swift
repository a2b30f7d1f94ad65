import FoundationEssentials

/// The end of an X.509 certificate's validity (`notAfter`), read from the first certificate of a PEM
/// document with a minimal DER walk: enough to tell an operator that a client certificate expired.
enum CertificateValidity {
    static func notAfter(pem: [UInt8]) -> Date? {
        let text = String(decoding: pem, as: UTF8.self)
        guard let begin = text.firstRange(of: "-----BEGIN CERTIFICATE-----"),
              let end = text[begin.upperBound...].firstRange(of: "-----END CERTIFICATE-----"),
              let der = Data(base64Encoded: String(text[begin.upperBound..<end.lowerBound]), options: .ignoreUnknownCharacters)
        else { return nil }
        return notAfter(der: Array(der))
    }

    /// Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
    /// signature, issuer, validity SEQUENCE { notBefore, notAfter }, … }, … }
    static func notAfter(der: [UInt8]) -> Date? {
        var reader = DERReader(bytes: der[...])
        guard var certificate = reader.enter(tag: 0x30), var tbs = certificate.enter(tag: 0x30) else { return nil }
        if tbs.peekTag == 0xA0 { _ = tbs.skip() }
        guard tbs.skip(), tbs.skip(), tbs.skip(),   // serialNumber, signature, issuer
              var validity = tbs.enter(tag: 0x30), validity.skip(),
              let (tag, value) = validity.next() else { return nil }
        return time(tag: tag, String(decoding: value, as: UTF8.self))
    }

    /// UTCTime "YYMMDDHHMMSSZ" (years 1950–2049) or GeneralizedTime "YYYYMMDDHHMMSSZ".
    static func time(tag: UInt8, _ text: String) -> Date? {
        var digits = text
        if tag == 0x17 {
            guard let year = Int(text.prefix(2)) else { return nil }
            digits = (year >= 50 ? "19" : "20") + text
        } else if tag != 0x18 {
            return nil
        }
        guard digits.count == 15, digits.hasSuffix("Z") else { return nil }
        let d = Array(digits.utf8)
        func field(_ start: Int, _ length: Int) -> String { String(decoding: d[start..<start + length], as: UTF8.self) }
        let iso = "\(field(0, 4))-\(field(4, 2))-\(field(6, 2))T\(field(8, 2)):\(field(10, 2)):\(field(12, 2))Z"
        return try? Date(iso, strategy: .iso8601)
    }
}

/// Definite-length DER, read forward.
private struct DERReader {
    var bytes: ArraySlice<UInt8>

    var peekTag: UInt8? { bytes.first }

    /// The next element's tag and contents.
    mutating func next() -> (UInt8, ArraySlice<UInt8>)? {
        guard bytes.count >= 2 else { return nil }
        let tag = bytes[bytes.startIndex]
        var index = bytes.startIndex + 1
        var length = Int(bytes[index])
        index += 1
        if length & 0x80 != 0 {
            let count = length & 0x7F
            guard count >= 1, count <= 4, bytes.endIndex - index >= count else { return nil }
            length = 0
            for _ in 0..<count { length = length << 8 | Int(bytes[index]); index += 1 }
        }
        guard bytes.endIndex - index >= length else { return nil }
        let value = bytes[index..<index + length]
        bytes = bytes[(index + length)...]
        return (tag, value)
    }

    mutating func skip() -> Bool { next() != nil }

    mutating func enter(tag expected: UInt8) -> DERReader? {
        guard let (tag, value) = next(), tag == expected else { return nil }
        return DERReader(bytes: value)
    }
}
