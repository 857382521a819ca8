"""Routes of the contact-centre directory: one resource per table."""

from __future__ import annotations

from fastapi import APIRouter

from tongdai.api.crud import Resource, crud_router
from tongdai.directory import models as m
from tongdai.directory import schemas as s
from tongdai.iam.models import User
from tongdai.iam.roles import ADMINS, DIRECTORY_READERS, SUPERVISORS

RESOURCES = [
    Resource("/sites", m.Site, s.SiteIn, s.SiteOut, DIRECTORY_READERS, ADMINS, filters=("name",)),
    Resource("/teams", m.Team, s.TeamIn, s.TeamOut, DIRECTORY_READERS, ADMINS, filters=("name", "site_id"),
             refs={"site_id": m.Site, "supervisor_user_id": User}),
    Resource("/skills", m.Skill, s.SkillIn, s.SkillOut, DIRECTORY_READERS, ADMINS, filters=("name",)),
    Resource("/agents", m.Agent, s.AgentIn, s.AgentOut, DIRECTORY_READERS, SUPERVISORS,
             filters=("name", "extension", "site_id", "team_id", "active"),
             refs={"site_id": m.Site, "team_id": m.Team, "user_id": User}),
    Resource("/queues", m.Queue, s.QueueIn, s.QueueOut, DIRECTORY_READERS, ADMINS,
             filters=("name", "strategy", "recording_policy"), refs={"calendar_id": m.Calendar}),
    Resource("/numbers", m.Number, s.NumberIn, s.NumberOut, DIRECTORY_READERS, ADMINS, filters=("e164", "flow"),
             refs={"queue_id": m.Queue}),
    Resource("/calendars", m.Calendar, s.CalendarIn, s.CalendarOut, DIRECTORY_READERS, ADMINS, filters=("name",)),
    Resource("/reason-codes", m.ReasonCode, s.ReasonCodeIn, s.ReasonCodeOut, DIRECTORY_READERS, ADMINS,
             filters=("kind", "code")),
]


def router() -> APIRouter:
    r = APIRouter()
    for res in RESOURCES:
        r.include_router(crud_router(res))
    return r
