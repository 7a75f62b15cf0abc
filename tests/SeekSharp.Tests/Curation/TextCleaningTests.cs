using System.Text;
using SeekSharp.Data.Curation;

namespace SeekSharp.Tests.Curation;

/// <summary>Decoding, HTML to text, normalization and PII scrubbing on small literal inputs.</summary>
public class TextCleaningTests
{
    [Fact]
    public void Utf8IsDetectedAndBomStripped()
    {
        var d = TextDecoding.Decode([0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes("café “x”")]);
        Assert.Equal(("café “x”", "utf-8", false, (string?)null), (d.Text, d.Encoding, d.Repaired, d.Problem));
    }

    [Fact]
    public void SmartQuotesIn1252AreRepaired()
    {
        var d = TextDecoding.Decode([0x93, (byte)'h', (byte)'i', 0x94, (byte)' ', 0xE9]);
        Assert.Equal(("“hi” é", "windows-1252", true), (d.Text, d.Encoding, d.Repaired));
    }

    [Fact]
    public void LatinOneWithoutC1BytesIsIso88591()
    {
        var d = TextDecoding.Decode([(byte)'c', (byte)'a', (byte)'f', 0xE9]);
        Assert.Equal(("café", "iso-8859-1", true), (d.Text, d.Encoding, d.Repaired));
    }

    [Fact]
    public void MostlyUtf8WithAStrayByteStaysUtf8()
    {
        var d = TextDecoding.Decode([.. Encoding.UTF8.GetBytes("naïve café "), 0xFF, (byte)'x']);
        Assert.Equal(("utf-8", true), (d.Encoding, d.Repaired));
        Assert.StartsWith("naïve café", d.Text);
    }

    [Fact]
    public void BinaryIsReportedNotDecoded()
    {
        Assert.Equal("binary", TextDecoding.Decode([(byte)'P', (byte)'K', 3, 4, 0, 0, 1]).Problem);
        Assert.Equal("binary", TextDecoding.Decode([1, 2, 3, 4, (byte)'a', 5, 6]).Problem);
        Assert.Null(TextDecoding.Decode([.. Encoding.ASCII.GetBytes("tab\tand\fform feed\r\n")]).Problem);
    }

    [Fact]
    public void CharsetLabelIsHonouredWithFallback()
    {
        Assert.Equal("Привет", TextDecoding.Decode(Encoding.GetEncoding("koi8-r").GetBytes("Привет"), "KOI8-R").Text);
        Assert.Equal("“q”", TextDecoding.Decode([0x93, (byte)'q', 0x94], "iso-8859-1").Text);
        var unknown = TextDecoding.Decode(Encoding.UTF8.GetBytes("ok é"), "x-no-such-charset");
        Assert.Equal(("ok é", true), (unknown.Text, unknown.Repaired));
    }

    [Fact]
    public void HtmlToReadableText()
    {
        var html = """
            <!DOCTYPE html><html><head><title>T</title><style>p{color:red}</style></head>
            <body><script>if (a < b) alert("x")</script><h1>Title</h1><p>Fish &amp; chips,
               &quot;fresh&quot;&nbsp;today</p><div>a<br>b</div><ul><li>one</li><li>two</li></ul>
            <!-- <p>hidden</p> --><a href="x" title="a > b">link</a> 3 < 4
            <table><tr><td>c1</td><td>c2</td></tr></table></body></html>
            """;
        Assert.Equal("Title\nFish & chips, \"fresh\" today\na\nb\none\ntwo\nlink 3 < 4\nc1 c2", HtmlText.ToText(html));
    }

    [Fact]
    public void HtmlHeadWithoutCloseEndsAtBody()
    {
        Assert.Equal("kept", HtmlText.ToText("<html><head><meta x=1><body><p>kept</p>"));
    }

    [Fact]
    public void NormalizerAppliesNfkcAndWhitespaceRules()
    {
        Assert.Equal("fi 12 x2 Å é 가", TextNormalizer.Normalize("\uFB01 \uFF11\uFF12 x\u00B2 A\u030A e\u0301 \u1100\u1161"));
        Assert.Equal("a b\tc\nd\n\ne", TextNormalizer.Normalize("  a  \t b\tc   \r\nd\u0007\r\n\n\n\n\ne  \n\n"));
        Assert.Equal("one\n\ntwo", TextNormalizer.Normalize("one\n\ntwo"));
        Assert.Equal("plain ascii", TextNormalizer.Normalize("plain ascii"));
        Assert.Equal("\uAC00", TextNormalizer.Normalize("\u1100\u1161"));          // conjoining jamo only
        Assert.Equal("“x” — é\U0001F600", TextNormalizer.Normalize("“x” — e\u0301\U0001F600"));
    }

    [Fact]
    public void NormalizerEqualsTheStraightforwardLoop()
    {
        var rng = new Random(9);
        const string alphabet = "ab  \t\t\r\n\n\u2028\u2029\u0001\u007F\u0085\u00A0é\uFB01x.";
        for (int t = 0; t < 5000; t++)
        {
            var chars = new char[rng.Next(0, 40)];
            for (int i = 0; i < chars.Length; i++) chars[i] = alphabet[rng.Next(alphabet.Length)];
            var text = new string(chars);
            Assert.Equal(ReferenceNormalize(text), TextNormalizer.Normalize(text));
        }
    }

    // The normalizer as first written (StringBuilder, one char at a time), kept as the reference.
    static string ReferenceNormalize(string text)
    {
        var s = UnicodeNfkc.Normalize(text);
        var sb = new StringBuilder(s.Length);
        var pendingBlank = 0;     // newlines seen since the last content on a line
        var pendingSpace = 0;     // spaces/tabs seen since the last content character on this line
        var pendingTab = false;
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            if (c == '\r')
            {
                if (i + 1 < s.Length && s[i + 1] == '\n') continue;
                c = '\n';
            }
            if (c == '\n')
            {
                pendingSpace = 0; pendingTab = false;   // trailing spaces are dropped
                pendingBlank++;
                continue;
            }
            if (c == ' ' || c == '\t')
            {
                pendingSpace++;
                pendingTab = c == '\t';
                continue;
            }
            // Control characters (C0, DEL, C1) carry no text; \u2028/\u2029 are line breaks in disguise.
            if (c == '\u2028' || c == '\u2029') { pendingSpace = 0; pendingBlank++; continue; }
            if (char.IsControl(c)) continue;
            if (pendingBlank > 0)
            {
                if (sb.Length > 0) sb.Append(pendingBlank >= 2 ? "\n\n" : "\n");
                pendingBlank = 0;
            }
            if (pendingSpace > 0 && sb.Length > 0)
                sb.Append(pendingSpace == 1 && pendingTab ? '\t' : ' ');
            pendingSpace = 0; pendingTab = false;
            sb.Append(c);
        }
        return sb.ToString();
    }

    [Fact]
    public void NfkcOrdersCombiningMarksCanonically()
    {
        // q + dot below (ccc 220) + dot above (ccc 230) in either order normalizes the same way.
        Assert.Equal(TextNormalizer.Normalize("q\u0307\u0323"), TextNormalizer.Normalize("q\u0323\u0307"));
        Assert.Equal("\u1E0D\u0307", TextNormalizer.Normalize("d\u0307\u0323"));   // ḍ composes, dot above stays
    }

    [Fact]
    public void ScrubberReplacesIdentifiers()
    {
        var r = PiiScrubber.Scrub(
            "Mail joe.bloggs+x@mail.example.co.uk or call (555) 123-4567, 1-800-555-0199, +44 20 7946 0958. " +
            "Server 192.168.1.20 and fe80::1ff:fe23:4567:890a. Card 4111 1111 1111 1111.");
        Assert.Equal(
            "Mail <EMAIL> or call <PHONE>, <PHONE>, <PHONE>. Server <IP> and <IP>. Card <CARD>.", r.Text);
        Assert.Equal((1, 3, 2, 1), (r.Emails, r.Phones, r.Ips, r.Cards));
    }

    [Theory]
    [InlineData("In 1999 we sold 2002 units.")]
    [InlineData("It costs $1,999.00 or 12.50 EUR.")]
    [InlineData("Upgrade to version 2.6.18 or 10.4.11.")]
    [InlineData("Order 4111 1111 1111 1112 is not a card (Luhn fails).")]
    [InlineData("Meeting 2002-09-25 at 12:30:45, see std::vector, ZIP 90210.")]
    [InlineData("Population 1234567 in 1990.")]
    [InlineData("Luhn-valid but no card: stamp 20020906211713, dump 30 32 55 54 30 38 32 33 32, id 2100-1001-959165.")]
    public void ScrubberLeavesOrdinaryNumbersAlone(string text)
    {
        var r = PiiScrubber.Scrub(text);
        Assert.Equal(text, r.Text);
    }

    [Fact]
    public void FastEmailAndIpv6PathsMatchThePlainPatterns()
    {
        // Random text over an alphabet dense in e-mail and IPv6 material: local-part characters, '@',
        // dots, a \w letter outside the local-part set (é), colons and hex digits.
        var email = new System.Text.RegularExpressions.Regex(PiiScrubber.EmailPattern);
        var ipv6 = new System.Text.RegularExpressions.Regex(PiiScrubber.Ipv6Pattern);
        var rng = new Random(5);
        for (int t = 0; t < 4000; t++)
        {
            var alphabet = t % 2 == 0 ? "ab.z9_%+-@@@..é :: f0x\n.co.ukAB" : "0123abcdefg:::. x";
            var chars = new char[rng.Next(0, 60)];
            for (int i = 0; i < chars.Length; i++) chars[i] = alphabet[rng.Next(alphabet.Length)];
            var text = new string(chars);
            int expected = 0, found = 0;
            var replaced = email.Replace(text, _ => { expected++; return "<EMAIL>"; });
            Assert.Equal(replaced, PiiScrubber.ReplaceEmails(text, ref found));
            Assert.Equal(expected, found);
            if (!PiiScrubber.MayHoldIpv6(text)) Assert.False(ipv6.IsMatch(text), text);
        }
    }

    [Fact]
    public void LuhnAcceptsKnownTestNumbers()
    {
        Assert.True(PiiScrubber.Luhn("4012-8888-8888-1881"));
        Assert.True(PiiScrubber.Luhn("378282246310005"));
        Assert.False(PiiScrubber.Luhn("4012888888881882"));
        Assert.True(PiiScrubber.IsCard("3782 822463 10005"));
        Assert.False(PiiScrubber.IsCard("40 12 88 88 88 88 18 81"));
    }
}
