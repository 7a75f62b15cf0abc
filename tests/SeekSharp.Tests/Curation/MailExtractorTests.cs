using System.Text;
using SeekSharp.Data.Curation;

namespace SeekSharp.Tests.Curation;

/// <summary>Mail extraction on generated RFC 822 messages: MIME walking, transfer encodings, charsets, cleanup.</summary>
public class MailExtractorTests
{
    private static MailText Extract(string mail) => MailExtractor.Extract(Encoding.Latin1.GetBytes(mail.ReplaceLineEndings("\r\n")));

    [Fact]
    public void PlainMailKeepsSubjectAndDropsOtherHeaders()
    {
        var m = Extract("""
            From joe@example.com  Mon Sep 30 13:44:10 2002
            Return-Path: <joe@example.com>
            Received: from mx by host;
                Mon, 30 Sep 2002 13:44:10
            Subject: Lunch
             plans
            From: Joe <joe@example.com>

            Shall we meet at noon?
            """);
        Assert.Null(m.Problem);
        Assert.Equal("Subject: Lunch plans\nShall we meet at noon?", m.Body!.ReplaceLineEndings("\n").TrimEnd());
    }

    [Fact]
    public void AlternativePrefersPlainAndDecodesQuotedPrintable()
    {
        var m = Extract("""
            Subject: =?utf-8?B?Q2Fmw6k=?= news
            MIME-Version: 1.0
            Content-Type: multipart/alternative; boundary="XYZ"

            preamble
            --XYZ
            Content-Type: text/plain; charset=utf-8
            Content-Transfer-Encoding: quoted-printable

            Caf=C3=A9 opens at n=
            oon.
            --XYZ
            Content-Type: text/html; charset=utf-8
            Content-Transfer-Encoding: base64

            PHA+SFRNTCB2ZXJzaW9uPC9wPg==
            --XYZ--
            epilogue
            """);
        Assert.Equal("Subject: Café news\nCafé opens at noon.", m.Body!.TrimEnd());
    }

    [Fact]
    public void HtmlOnlyMailIsConvertedFromBase64()
    {
        var html = Convert.ToBase64String(Encoding.UTF8.GetBytes("<html><body><p>Buy <b>now</b> &amp; save</p></body></html>"));
        var m = Extract($"Subject: Offer\nContent-Type: text/html; charset=\"utf-8\"\nContent-Transfer-Encoding: base64\n\n{html[..10]}\n{html[10..]}\n");
        Assert.Equal("Subject: Offer\nBuy now & save", m.Body);
    }

    [Fact]
    public void Iso88591CharsetIsApplied()
    {
        var raw = Encoding.Latin1.GetBytes("Subject: x\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nGr\u00fc\u00dfe aus K\u00f6ln\r\n");
        Assert.Equal("Subject: x\nGrüße aus Köln", MailExtractor.Extract(raw).Body!.ReplaceLineEndings("\n").TrimEnd());
    }

    [Fact]
    public void AttachmentsAreSkippedAndNestedMultipartWalked()
    {
        var m = Extract("""
            Content-Type: multipart/mixed; boundary=outer

            --outer
            Content-Type: multipart/alternative; boundary=inner

            --inner
            Content-Type: text/plain

            Report attached.
            --inner
            Content-Type: text/html

            <p>Report attached.</p>
            --inner--
            --outer
            Content-Type: application/pdf; name=r.pdf
            Content-Disposition: attachment; filename=r.pdf
            Content-Transfer-Encoding: base64

            JVBERi0xLjQK
            --outer
            Content-Type: text/plain; name=notes.txt
            Content-Disposition: attachment; filename=notes.txt

            attached notes are not the body
            --outer--
            """);
        Assert.Equal("Report attached.", m.Body!.ReplaceLineEndings("\n").Trim());
    }

    [Fact]
    public void QuotedRepliesSignaturesAndListFootersAreStripped()
    {
        var m = Extract("""
            Subject: Re: build

            I agree, ship it.

            On Mon, 30 Sep 2002, Jane Doe wrote:
            > Should we ship?
            >> Earlier quote
            Jane Doe <jane@example.com> wrote:

            > more quote

            Thanks.
            --
            Joe, not a signature marker without the space
            -- 
            Joe Bloggs | Example Corp
            """);
        Assert.Equal("Subject: Re: build\nI agree, ship it.\n\nThanks.\n--\nJoe, not a signature marker without the space",
            m.Body!.ReplaceLineEndings("\n"));

        var footer = Extract("Subject: s\n\nContent here.\n_______________________________________________\nIrish Linux Users' Group: ilug@linux.ie\nhttp://www.linux.ie/mailman/listinfo/ilug\n");
        Assert.Equal("Subject: s\nContent here.", footer.Body!.ReplaceLineEndings("\n"));

        var bare = Extract("Subject: s\n\nContent here.\n\nhttp://xent.com/mailman/listinfo/fork\n");
        Assert.Equal("Subject: s\nContent here.", bare.Body!.ReplaceLineEndings("\n"));

        var outlook = Extract("Subject: s\n\nTop post.\n-----Original Message-----\nFrom: x\nold text\n");
        Assert.Equal("Subject: s\nTop post.", outlook.Body!.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void ImageOnlyHtmlIsEmptyText()
    {
        var m = Extract("Subject: x\nContent-Type: text/html\n\n<html><body><img src=a.jpg><script>x()</script></body></html>\n");
        Assert.Equal((null, "empty-text"), (m.Body, m.Problem));
    }

    [Fact]
    public void MailWithoutTextPartHasProblem()
    {
        var m = Extract("""
            Subject: pic
            Content-Type: multipart/mixed; boundary=b

            --b
            Content-Type: image/gif
            Content-Transfer-Encoding: base64

            R0lGODlhAQABAAAAACw=
            --b--
            """);
        Assert.Equal((null, "no-text-part"), (m.Body, m.Problem));
    }
}
