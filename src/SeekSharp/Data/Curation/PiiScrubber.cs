using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace SeekSharp.Data.Curation;

/// <summary>Scrubbed text and how many of each kind of identifier were replaced.</summary>
public sealed record ScrubResult(string Text, int Emails, int Phones, int Ips, int Cards);

// Design: source-generated regexes (compiled at build time), applied in an order where the more
// specific pattern goes first so a later one cannot eat part of it: e-mail (contains digits and
// dots), card (long digit runs), IP, phone. Precision trade-offs, chosen to favour not mangling
// ordinary text over catching every identifier:
// - E-mail: local@domain.tld with a 2+ letter TLD; obfuscations ("joe at example dot com") pass.
// - Card: 13-19 digits, ungrouped or in groups of 4 (Amex/Diners 4-6-5/4-6-4), with an issuer
//   prefix (Visa, Mastercard, Amex, Discover, Diners, JCB, UnionPay) and a valid Luhn digit. Luhn
//   alone let timestamps (20020906211713), hex dumps and phone numbers through on real mail (one
//   random number in ten passes it); a random digit run that has a card prefix still can.
// - IPv4: four valid octets (0-255, no leading zeros) not inside a longer dotted number; a four-part
//   version number such as 2.4.18.1 is indistinguishable and is scrubbed. Three-part versions are not.
// - IPv6: candidate runs of hex groups and colons validated by IPAddress.TryParse, at least 6 chars
//   and two non-empty groups, so clock times (12:30:45) and C++ scopes (a::b) are left alone.
// - Phone: North American 3-3-4 (optional +1 / 1- prefix, area code optionally in parentheses) and
//   7-digit 3-4 local numbers, with a separator required between groups; international numbers
//   must start with +CC and hold 8-15 digits. Bare digit runs (years like 1999, prices like $1,999.00,
//   ZIP codes, dates like 2002-09-25) never match; a "123-4567" part number does.
public static partial class PiiScrubber
{
    public static ScrubResult Scrub(string text)
    {
        int emails = 0, phones = 0, ips = 0, cards = 0;
        var s = ReplaceEmails(text, ref emails);
        s = Card().Replace(s, m =>
        {
            if (!IsCard(m.Value)) return m.Value;
            cards++;
            return "<CARD>";
        });
        s = Ipv4().Replace(s, _ => { ips++; return "<IP>"; });
        if (MayHoldIpv6(s)) s = Ipv6().Replace(s, m =>
        {
            if (!IsIpv6(m.Value)) return m.Value;
            ips++;
            return "<IP>";
        });
        s = PhoneIntl().Replace(s, m =>
        {
            var digits = m.Value.Count(char.IsAsciiDigit);
            if (digits is < 8 or > 15) return m.Value;
            phones++;
            return "<PHONE>";
        });
        s = PhoneNa().Replace(s, _ => { phones++; return "<PHONE>"; });
        return new ScrubResult(s, emails, phones, ips, cards);
    }

    // Speed: run naively, the e-mail pattern is tried at nearly every position (any letter may start a
    // local part) and the IPv6 one at every hex letter, which made them most of the scrubber's time.
    // Both are now entered only where they can match, with the same results:
    // - Every e-mail match holds one '@' (local part and domain cannot contain one), its local part is
    //   the whole run of [A-Za-z0-9._%+-] before that '@' (the lookbehind rejects a start inside the run),
    //   and a later '@' cannot belong to a match that starts earlier. So the next match after position p
    //   is the first '@' whose local run, started no earlier than p, matches there: the same pattern
    //   anchored with \G is tried at exactly that one position per '@'.
    // - An IPv6 match needs two colons with at most four hex digits between them; text without that
    //   (most mail: "Subject:", "http://") skips the pattern.
    internal static string ReplaceEmails(string text, ref int count)
    {
        StringBuilder? sb = null;
        int copied = 0;   // text before this index is in sb (or unchanged)
        for (int at = text.IndexOf('@'); at >= 0; at = text.IndexOf('@', at + 1))
        {
            int start = at;
            while (start > copied && IsLocalPart(text[start - 1])) start--;
            var m = EmailAt().Match(text, start);
            if (!m.Success) continue;
            (sb ??= new StringBuilder(text.Length)).Append(text, copied, m.Index - copied).Append("<EMAIL>");
            copied = m.Index + m.Length;
            count++;
            at = copied - 1;
        }
        return sb is null ? text : sb.Append(text, copied, text.Length - copied).ToString();
    }

    static bool IsLocalPart(char c) => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '%' or '+' or '-';

    internal static bool MayHoldIpv6(string s)
    {
        for (int c = s.IndexOf(':'); c >= 0; c = s.IndexOf(':', c + 1))
            for (int j = c + 1; j < s.Length && j <= c + 5; j++)
            {
                if (s[j] == ':') return true;
                if (!char.IsAsciiHexDigit(s[j])) break;
            }
        return false;
    }

    internal static bool IsCard(string candidate)
    {
        var groups = candidate.Split([' ', '-']);
        if (groups.Length > 1)
        {
            var lens = string.Join(",", groups.Select(g => g.Length));
            var fours = groups[..^1].All(g => g.Length == 4) && groups[^1].Length is >= 1 and <= 4;
            if (!fours && lens is not ("4,6,5" or "4,6,4")) return false;
        }
        var d = string.Concat(groups);
        var len = d.Length;
        int P(int n) => int.Parse(d.AsSpan(0, n));
        var issuer = d[0] == '4' ? len is 13 or 16 or 19
            : P(2) is >= 51 and <= 55 || P(4) is >= 2221 and <= 2720 ? len == 16
            : P(2) is 34 or 37 ? len == 15
            : P(4) == 6011 || P(2) == 65 || P(3) is >= 644 and <= 649 || P(2) == 62 ? len is >= 16 and <= 19
            : P(3) is >= 300 and <= 305 || P(2) is 36 or 38 or 39 ? len is >= 14 and <= 16
            : P(4) is >= 3528 and <= 3589 && len is >= 16 and <= 19;
        return issuer && Luhn(d);
    }

    internal static bool Luhn(string candidate)
    {
        var digits = candidate.Where(char.IsAsciiDigit).Select(c => c - '0').ToArray();
        if (digits.Length is < 13 or > 19) return false;
        if (digits.All(d => d == digits[0])) return false;   // 0000 0000 0000 0000 passes Luhn but is no card
        var sum = 0;
        for (var i = 0; i < digits.Length; i++)
        {
            var d = digits[digits.Length - 1 - i];
            if (i % 2 == 1) { d *= 2; if (d > 9) d -= 9; }
            sum += d;
        }
        return sum % 10 == 0;
    }

    private static bool IsIpv6(string s)
    {
        if (s.Length < 6) return false;
        if (s.Split(':').Count(g => g.Length > 0) < 2) return false;
        return IPAddress.TryParse(s, out var a) && a.AddressFamily == AddressFamily.InterNetworkV6;
    }

    internal const string EmailPattern = @"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}\b";

    [GeneratedRegex(@"\G" + EmailPattern)]
    private static partial Regex EmailAt();

    [GeneratedRegex(@"(?<![\d.,-])\d(?:[ -]?\d){12,18}(?![\d]|[.,]\d)")]
    private static partial Regex Card();

    [GeneratedRegex(@"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\d|\.\d)")]
    private static partial Regex Ipv4();

    internal const string Ipv6Pattern = @"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])";

    [GeneratedRegex(Ipv6Pattern)]
    private static partial Regex Ipv6();

    [GeneratedRegex(@"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){1,6}(?![\w-]|[.,]\d)")]
    private static partial Regex PhoneIntl();

    [GeneratedRegex(@"(?<![\w+.$-])(?:(?:\+?1[ .-])?(?:\(\d{3}\)[ ]?|\d{3}[ .-]))?\d{3}[ .-]\d{4}(?![\w-]|[.,]\d)")]
    private static partial Regex PhoneNa();
}
