using System.Text.Json;

namespace SeekSharp.Server.Api;

/// <summary>The required `model` field: it must name the served model.</summary>
public static class ModelField
{
    public static void Check(JsonElement body, ServedModel model)
    {
        var name = JsonFields.String(body, "model")
            ?? throw ApiException.BadRequest("model", "Missing required parameter: 'model'.", "missing_required_parameter");
        if (name != model.Id)
            throw ApiException.BadRequest("model", $"The model '{name}' does not exist; this server serves '{model.Id}' (see GET /v1/models).", "model_not_found");
    }
}
