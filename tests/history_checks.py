"""Whether deals' stage histories obey the rule (for the seed's and the demo's data): each deal
has one creation row, from no stage, at its creation; each later row leaves the stage the one
before entered, and says when it did; the newest row is the deal's stage and the time it
entered it."""

from itertools import groupby, pairwise

from django.utils import timezone

from crm_admin.deal_history import DealStageChange
from crm_admin.models import Deal


def stage_history_problems(deals=None) -> list[str]:
    """What is wrong with the stage history of `deals` (all by default), one line per problem;
    empty when every history is consistent. Two queries."""
    deals = {deal.pk: deal for deal in (deals if deals is not None else Deal.objects.all())}
    rows = DealStageChange.objects.filter(deal__in=list(deals)).order_by("deal", "changed_at", "id")
    problems = []
    seen = set()
    now = timezone.now()
    for deal_id, changes in groupby(rows, key=lambda row: row.deal_id):
        changes = list(changes)
        deal = deals[deal_id]
        seen.add(deal_id)
        first, newest = changes[0], changes[-1]
        if (first.from_stage_id, first.from_stage_entered_at) != (None, None):
            problems.append(f"{deal}: the first row is not its creation")
        if first.changed_at != deal.created_at:
            problems.append(f"{deal}: created {deal.created_at}, first row {first.changed_at}")
        for before, after in pairwise(changes):
            if after.from_stage_id != before.to_stage_id:
                problems.append(f"{deal}: row {after.pk} leaves a stage it had not entered")
            if after.from_stage_entered_at != before.changed_at:
                problems.append(f"{deal}: row {after.pk} misstates when it entered the stage")
            if after.changed_at <= before.changed_at:
                problems.append(f"{deal}: rows {before.pk} and {after.pk} at the same time")
        if (newest.to_stage_id, newest.changed_at) != (deal.stage_id, deal.stage_entered_at):
            problems.append(f"{deal}: its stage and entry time are not its newest row's")
        if newest.changed_at > now:
            problems.append(f"{deal}: a row in the future")
        if newest.lost_reason_id != deal.lost_reason_id:
            problems.append(f"{deal}: its lost reason is not its last move's")
    problems += [f"{deal}: no history" for pk, deal in deals.items() if pk not in seen]
    return problems
