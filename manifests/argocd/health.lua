-- Argo CD health check of a forescale LLMDeployment (argocd-cm key
-- resource.customizations.health.forescale.io_LLMDeployment), read from its status:
--   status not yet written, or observedGeneration behind metadata.generation -> Progressing
--   Degraded=True                                                            -> Degraded
--   Ready=True                                                               -> Healthy
--   Progressing=True, or anything else (Unknown while first assessed)       -> Progressing
-- Argo CD runs it in gopher-lua (Lua 5.1) without the standard libraries (no
-- `useOpenLibs`): base and table only, so no string.*, math.* or os.* here. `obj` is the
-- object, the table returned is its health.
local health = {}

local function condition(conditions, kind)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function describe(c)
  local text = c.reason or ""
  if c.message ~= nil and c.message ~= "" then
    text = text .. ": " .. c.message
  end
  return text
end

local status = obj.status
if status == nil then
  health.status = "Progressing"
  health.message = "Waiting for forescale to report status"
  return health
end

local generation = obj.metadata.generation
local observed = status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  health.status = "Progressing"
  health.message = "Waiting for forescale to observe generation " .. tostring(generation)
    .. " (status describes " .. tostring(observed or "none") .. ")"
  return health
end

local degraded = condition(status.conditions, "Degraded")
if degraded ~= nil and degraded.status == "True" then
  health.status = "Degraded"
  health.message = describe(degraded)
  return health
end

local ready = condition(status.conditions, "Ready")
if ready ~= nil and ready.status == "True" then
  health.status = "Healthy"
  health.message = describe(ready)
  return health
end

local progressing = condition(status.conditions, "Progressing")
health.status = "Progressing"
if progressing ~= nil and progressing.status == "True" then
  health.message = describe(progressing)
elseif ready ~= nil then
  health.message = describe(ready)
else
  health.message = "Waiting for the Ready condition"
end
return health
