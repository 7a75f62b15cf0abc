using System.Text;

namespace SeekSharp.Data.Curation;

/// <summary>The readable text of one mail. Problem ("no-text-part", or "empty-text" when text parts hold nothing readable) comes with a null Body.</summary>
public sealed record MailText(string? Body, string? Problem);

// Design: the raw mail is viewed as Latin-1 (one char per byte), so header and MIME parsing work on
// strings while every part body can be turned back into its exact bytes before its own charset is
// applied. Parts are walked recursively: multipart/alternative picks text/plain over text/html;
// other multiparts keep all their inline text parts (plain ones if any, else HTML); attachments and
// non-text parts are skipped; message/rfc822 parts (forwards) contribute their own body. Headers are
// metadata and are dropped, except the Subject, which is content and becomes the first line.
// Quoted replies and signatures are then removed by MailCleanup.
public static class MailExtractor
{
    private const int MaxDepth = 16;   // MIME nesting deeper than this is hostile, not mail

    public static MailText Extract(byte[] raw)
    {
        var mail = Encoding.Latin1.GetString(raw);
        var (headers, body) = MimePart.Split(mail);
        var texts = new List<string>();
        var sawText = false;
        Collect(headers, body, texts, 0, ref sawText);
        var subject = headers.Get("subject") is { } s ? MimePart.DecodeWords(s).Trim() : null;
        // "empty-text": a text part exists but holds nothing readable (image-only or script-only HTML).
        if (texts.Count == 0) return new MailText(null, sawText ? "empty-text" : "no-text-part");
        var text = MailCleanup.Strip(string.Join("\n\n", texts));
        return new MailText(string.IsNullOrEmpty(subject) ? text : string.Concat("Subject: ", subject, "\n", text), null);
    }

    private static void Collect(MimeHeaders headers, string body, List<string> into, int depth, ref bool sawText)
    {
        if (depth > MaxDepth) return;
        var (type, parameters) = MimePart.ContentType(headers.Get("content-type"));
        if (type.StartsWith("multipart/", StringComparison.Ordinal))
        {
            if (!parameters.TryGetValue("boundary", out var boundary) || boundary.Length == 0)
            {
                // A multipart without a boundary is really one text part; read it as plain text.
                AddLeaf("text/plain", parameters, headers, body, into, ref sawText);
                return;
            }
            var children = MimePart.SplitMultipart(body, boundary).Select(MimePart.Split).ToList();
            if (type == "multipart/alternative")
            {
                // Prefer plain, then HTML, then whatever a nested multipart yields.
                foreach (var want in new[] { "text/plain", "text/html", "multipart/" })
                    foreach (var (h, b) in children)
                    {
                        var t = MimePart.ContentType(h.Get("content-type")).Type;
                        if (!t.StartsWith(want, StringComparison.Ordinal) || IsAttachment(h)) continue;
                        var found = new List<string>();
                        Collect(h, b, found, depth + 1, ref sawText);
                        if (found.Count > 0) { into.AddRange(found); return; }
                    }
                return;
            }
            var plain = new List<string>();
            var other = new List<string>();
            foreach (var (h, b) in children)
            {
                if (IsAttachment(h)) continue;
                var t = MimePart.ContentType(h.Get("content-type")).Type;
                Collect(h, b, t == "text/html" ? other : plain, depth + 1, ref sawText);
            }
            into.AddRange(plain.Count > 0 ? plain : other);
            return;
        }
        if (type == "message/rfc822")
        {
            var (h, b) = MimePart.Split(MimePart.DecodeTransfer(headers.Get("content-transfer-encoding"), body));
            Collect(h, b, into, depth + 1, ref sawText);
            return;
        }
        AddLeaf(type, parameters, headers, body, into, ref sawText);
    }

    private static void AddLeaf(string type, Dictionary<string, string> parameters, MimeHeaders headers, string body, List<string> into, ref bool sawText)
    {
        if (type is not ("text/plain" or "text/html" or "text/enriched" or "text/richtext" or "text")) return;
        sawText = true;
        var bytes = MimePart.DecodeTransferBytes(headers.Get("content-transfer-encoding"), body);
        var decoded = TextDecoding.Decode(bytes, parameters.GetValueOrDefault("charset"));
        if (decoded.Text is null) return;
        var text = type == "text/html" || (type != "text/plain" && LooksHtml(decoded.Text)) ? HtmlText.ToText(decoded.Text) : decoded.Text;
        // Some senders label HTML as text/plain; a body that opens with <html> is read as HTML.
        if (type == "text/plain" && LooksHtml(text)) text = HtmlText.ToText(text);
        if (!string.IsNullOrWhiteSpace(text)) into.Add(text);
    }

    private static bool LooksHtml(string s)
    {
        var t = s.AsSpan().TrimStart();
        return t.StartsWith("<html", StringComparison.OrdinalIgnoreCase) || t.StartsWith("<!doctype html", StringComparison.OrdinalIgnoreCase);
    }

    private static bool IsAttachment(MimeHeaders h) =>
        (h.Get("content-disposition") ?? "").TrimStart().StartsWith("attachment", StringComparison.OrdinalIgnoreCase);
}
